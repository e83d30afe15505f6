// The AWS simulator's IAM evaluator: a long-lived helper that answers, one
// JSON line for one JSON line, whether AWS's IAM would allow a request,
// by @cloud-copilot/iam-simulate (a real IAM policy engine: every condition
// operator, policy variables such as ${aws:PrincipalTag/...}). Asked by
// tests/aws-sim/iam_sim.py for each request a session with a registered
// policy makes. Test-only.
//
// In:  {"id": 1, "policies": [{"name": "...", "policy": {...}}],
//       "action": "ec2:CreateTags", "principal": "arn:aws:sts::...",
//       "resource": "arn:aws:ec2:...", "accountId": "123456789012",
//       "context": {"aws:ResourceTag/k": "v", "aws:TagKeys": ["k"]}}
// Out: {"id": 1, "decision": "Allowed" | "ImplicitlyDenied" |
//       "ExplicitlyDenied" | "Error", "detail": "..."}

import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

async function decide(ask) {
  const simulation = {
    identityPolicies: ask.policies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    request: {
      action: ask.action,
      principal: ask.principal,
      resource: { resource: ask.resource, accountId: ask.accountId },
      contextVariables: ask.context ?? {}
    }
  }
  const answer = await runSimulation(simulation, {})
  if (answer.resultType === 'error') {
    return { decision: 'Error', detail: JSON.stringify(answer.errors) }
  }
  return { decision: answer.overallResult }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  let id = null
  try {
    const ask = JSON.parse(line)
    id = ask.id
    const answer = await decide(ask)
    process.stdout.write(JSON.stringify({ id, ...answer }) + '\n')
  } catch (e) {
    process.stdout.write(JSON.stringify({ id, decision: 'Error', detail: String(e?.stack ?? e) }) + '\n')
  }
}
