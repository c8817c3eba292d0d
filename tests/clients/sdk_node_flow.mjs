// Depot's official Node SDK (@depot/sdk-node, installed from npm by scripts/test.sh) against
// depot-server, the way Depot's "Node SDK + CLI" tutorial uses it: a project and its tokens,
// a build registered with CreateBuild and run by the official depot CLI with DEPOT_BUILD_ID
// and the build token, FinishBuild, the build's summary, steps and step logs, the project's
// images and usage, ResetProject (the next build is cold), DeleteProject; and the refusals
// Depot documents. Run by tests/it/official_sdk.rs, which starts the server and passes:
//   DEPOT_OFFICIAL_SDK_NODE  the SDK's package directory
//   DEPOT_API_URL            the server (read by the SDK when it loads)
//   FLOW_TOKEN               a user token
//   FLOW_CLI                 the official depot CLI
//   FLOW_REGISTRY            the server's registry host
//   FLOW_ROOTFS              a busybox root file system (a build context)
//   FLOW_WORK                a scratch directory
// Prints one JSON line with what it saw; exits non-zero on the first failed check.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const { depot } = require(process.env.DEPOT_OFFICIAL_SDK_NODE)
const env = (name) => {
  const value = process.env[name]
  assert.ok(value, `${name} is not set`)
  return value
}
const token = env('FLOW_TOKEN')
const work = env('FLOW_WORK')
const registry = env('FLOW_REGISTRY')
const as = (secret) => ({ headers: { Authorization: `Bearer ${secret}` } })
const user = as(token)

// Connect codes of connect-es (`ConnectError.code`).
const PERMISSION_DENIED = 7
const UNAUTHENTICATED = 16
const NOT_FOUND = 5

async function refused(call, codes) {
  const err = await call().then(
    () => null,
    (e) => e,
  )
  assert.ok(err, 'the call was allowed')
  assert.ok(codes.includes(err.code), `code ${err.code}: ${err.message}`)
  return err
}

/** Runs the official CLI; returns its combined output (it must succeed). */
function cli(args, extraEnv) {
  const out = spawnSync(env('FLOW_CLI'), args, {
    env: {
      PATH: process.env.PATH,
      HOME: work,
      DEPOT_API_URL: env('DEPOT_API_URL'),
      DEPOT_NO_UPDATE_NOTIFIER: '1',
      DEPOT_ERROR_TELEMETRY: '0',
      DEPOT_DISABLE_OTEL: '1',
      ...extraEnv,
    },
    encoding: 'utf8',
    timeout: 300_000,
  })
  const log = `${out.stdout}${out.stderr}`
  assert.equal(out.status, 0, `depot ${args.join(' ')} failed:\n${log}`)
  return log
}

// A Dockerfile whose RUN step stamps a fresh UUID: a cached run keeps the old one.
const context = join(work, 'context')
mkdirSync(context, { recursive: true })
writeFileSync(
  join(context, 'Dockerfile'),
  'FROM scratch\nCOPY --from=rootfs / /\n' +
    'RUN echo stamping && cat /proc/sys/kernel/random/uuid > /stamp\n',
)
const buildArgs = (project, more) => [
  'build',
  '--project',
  project,
  '--progress',
  'plain',
  '--build-context',
  `rootfs=${env('FLOW_ROOTFS')}`,
  ...more,
  context,
]
let outputs = 0
/** Builds with a project token, exporting the image's files; returns its stamp and log. */
function stampedBuild(project, secret) {
  const dest = join(work, `out-${outputs++}`)
  const log = cli(buildArgs(project, ['-o', `type=local,dest=${dest}`]), { DEPOT_TOKEN: secret })
  return { stamp: readFileSync(join(dest, 'stamp'), 'utf8'), log }
}

const seen = {}

// A project, and a token for it: created, listed, renamed, deleted.
const { project } = await depot.core.v1.ProjectService.createProject({ name: 'sdk-node-flow' }, user)
const projectId = project.projectId
assert.match(projectId, /\S/)
const created = await depot.core.v1.ProjectService.createToken({ projectId, description: 'ci' }, user)
const listed = await depot.core.v1.ProjectService.listTokens({ projectId }, user)
assert.deepEqual(
  listed.tokens.map((t) => [t.tokenId, t.description]),
  [[created.tokenId, 'ci']],
)
await depot.core.v1.ProjectService.updateToken({ tokenId: created.tokenId, description: 'ci builds' }, user)
const renamed = await depot.core.v1.ProjectService.listTokens({ projectId }, user)
assert.equal(renamed.tokens[0].description, 'ci builds')
const projectToken = created.secret

// A project token cannot manage projects or tokens (organization tokens only).
await refused(() => depot.core.v1.ProjectService.createProject({ name: 'nope' }, as(projectToken)), [
  PERMISSION_DENIED,
])
await refused(() => depot.core.v1.ProjectService.listTokens({ projectId }, as(projectToken)), [PERMISSION_DENIED])
await refused(() => depot.core.v1.ProjectService.deleteProject({ projectId }, as(projectToken)), [PERMISSION_DENIED])

// A build registered through the SDK, run by the official CLI with its build token.
const { buildId, buildToken } = await depot.build.v1.BuildService.createBuild({ projectId }, user)
const other = await depot.build.v1.BuildService.createBuild({ projectId }, user)
// A build token acts only on its own build.
await refused(
  () =>
    depot.build.v1.BuildService.finishBuild(
      { buildId: other.buildId, result: { case: 'success', value: {} } },
      as(buildToken),
    ),
  [PERMISSION_DENIED],
)
await refused(() => depot.core.v1.ProjectService.listProjects({}, as(buildToken)), [PERMISSION_DENIED, UNAUTHENTICATED])
await depot.build.v1.BuildService.finishBuild(
  { buildId: other.buildId, result: { case: 'error', value: { error: 'not needed' } } },
  user,
)

// With DEPOT_BUILD_ID the official CLI saves only to its built-in registry.depot.dev, so the
// image is pushed to the server's registry by name, with the build token as credentials.
const dockerConfig = join(work, 'docker')
mkdirSync(dockerConfig, { recursive: true })
const auth = Buffer.from(`x-token:${buildToken}`).toString('base64')
writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [registry]: { auth } } }))
const tag = `${registry}/${projectId}:sdk-node`
const log = cli(buildArgs(projectId, ['--push', '-t', tag]), {
  DEPOT_BUILD_ID: buildId,
  DEPOT_TOKEN: buildToken,
  DOCKER_CONFIG: dockerConfig,
})
assert.match(log, /RUN echo stamping/)
await depot.build.v1.BuildService.finishBuild({ buildId, result: { case: 'success', value: {} } }, user)

const { build } = await depot.core.v1.BuildService.getBuild({ buildId }, user)
assert.equal(build.buildId, buildId)
assert.equal(build.status, 3, `status ${build.status}: success`)
assert.ok(build.finishedAt && build.createdAt)
assert.ok(build.totalSteps >= 4, `total steps ${build.totalSteps}`)
const { buildSteps } = await depot.build.v1.BuildService.getBuildSteps({ projectId, buildId }, user)
assert.equal(buildSteps.length, build.totalSteps)
seen.steps = buildSteps.map((s) => ({ name: s.name, cached: s.cacheState === 2, hasLogs: s.hasLogs }))
// The CLI reports only its own steps; the server saw the solve on its builder.
const run = buildSteps.find((s) => s.name.includes('RUN echo stamping'))
assert.ok(run, `the RUN step is on the build: ${JSON.stringify(seen.steps)}`)
assert.equal(run.cacheState, 1, 'uncached')
assert.ok(run.hasLogs && run.startedAt && run.completedAt, JSON.stringify(seen.steps))
const { logs } = await depot.build.v1.BuildService.getBuildStepLogs(
  { projectId, buildId, buildStepDigest: run.digest },
  user,
)
seen.stepLogs = logs.map((l) => l.message)
assert.deepEqual(seen.stepLogs, ['stamping'])
assert.ok(logs[0].timestamp.toDate() >= build.createdAt.toDate())
const builds = await depot.core.v1.BuildService.listBuilds({ projectId }, user)
assert.ok(builds.builds.some((b) => b.buildId === buildId))

const { images } = await depot.build.v1.RegistryService.listImages({ projectId }, user)
assert.ok(
  images.some((i) => i.tag === 'sdk-node' && i.digest.startsWith('sha256:')),
  JSON.stringify(images.map((i) => i.tag)),
)
const { usage } = await depot.core.v1.UsageService.getProjectUsage({ projectId }, user)
assert.equal(usage.projectId, projectId)
assert.ok(usage.buildCount >= 2, `build count ${usage.buildCount}`)

// ResetProject: the next build runs every step again.
const warm = stampedBuild(projectId, projectToken)
assert.match(warm.log, /CACHED/, 'the rebuild before the reset is cached')
const again = stampedBuild(projectId, projectToken)
assert.equal(again.stamp, warm.stamp, 'the same build is cached')
await depot.core.v1.ProjectService.resetProject({ projectId }, user)
const cold = stampedBuild(projectId, projectToken)
assert.notEqual(cold.stamp, warm.stamp, 'after ResetProject the RUN step ran again')
assert.doesNotMatch(cold.log, /CACHED/, cold.log)

// The token deleted stops working; the project deleted is gone.
await depot.core.v1.ProjectService.deleteToken({ tokenId: created.tokenId }, user)
await refused(() => depot.core.v1.BuildService.listBuilds({ projectId }, as(projectToken)), [UNAUTHENTICATED])
await depot.core.v1.ProjectService.deleteProject({ projectId }, user)
await refused(() => depot.core.v1.ProjectService.getProject({ projectId }, user), [NOT_FOUND])

console.log(JSON.stringify(seen))
