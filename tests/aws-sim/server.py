"""AWS simulator for privatelink-operator's tests: moto's server, extended
where moto 5.2.5 differs from AWS (see README.md beside this file).

Usage: python tests/aws-sim/server.py [--port 5123]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import privatelink_sim  # noqa: E402  (patches moto before the server starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5123)
    args = parser.parse_args()
    privatelink_sim.install()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    print(f"aws-sim listening on http://{args.host}:{args.port}", flush=True)
    try:
        server._thread.join()  # serve until killed
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
