// The package as a user installs it, against a real depot-server, Docker Engine's BuildKit and a
// second registry (see harness.mjs).

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import {
  AuthError,
  BuildCanceled,
  BuildFailed,
  Client,
  ConfigError,
  DepotError,
  NotFoundError,
  RegistryError,
  copyImage,
  depot,
  depotBinaryPath,
  detectCiToken,
} from '@depot-rs/sdk'

import { busyboxRootfs, contextWith, registryDigest, startPeers } from './harness.mjs'
import { startIssuer } from './issuer.mjs'

let peers
let client
let rootfs
let issuer

before(async () => {
  issuer = await startIssuer('/gitlab')
  // arm64 builders that are really this host's engines (testing only) for the two-platform build.
  peers = await startPeers(['--oidc-issuer', `gitlab=${issuer.url}`, '--builder-test-arch', 'arm64'])
  client = await Client.connect({ token: peers.token, apiUrl: peers.apiUrl, project: peers.project })
  rootfs = busyboxRootfs(peers.dir)
})

after(() => {
  peers?.stop()
  issuer?.stop()
})

/** Runs `fn` with the environment variables `vars` set (`undefined` unsets), then restores
 * them. process.env is changed in place: the native module reads the real environment. */
async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]))
  const apply = (values) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
  apply(vars)
  try {
    return await fn()
  } finally {
    apply(saved)
  }
}

/** The status the server reports for `buildId`, read with the bundled CLI. */
async function buildStatus(buildId) {
  const listed = await depot(['list', 'builds', '--project', peers.project, '--output', 'json'], {
    env: peers.cliEnv,
  })
  assert.equal(listed.exitCode, 0, listed.stderr)
  const build = JSON.parse(listed.stdout).find((b) => b.id === buildId)
  assert.ok(build, `build ${buildId} is not listed: ${listed.stdout}`)
  return build.status
}

describe('client', () => {
  test('resolves its configuration and lists and creates projects', async () => {
    assert.equal(client.project, peers.project)
    assert.equal(client.apiUrl, peers.apiUrl)
    const projects = await client.listProjects()
    assert.ok(projects.some((p) => p.id === peers.project && p.orgId && p.orgName), JSON.stringify(projects))
    const created = await client.createProject('node-made')
    assert.equal(created.name, 'node-made')
    const again = await client.listProjects()
    assert.ok(again.some((p) => p.id === created.id))
  })

  test('resolves the token, API URL and project from the environment like the CLI', async () => {
    const vars = { DEPOT_TOKEN: peers.token, DEPOT_API_URL: peers.apiUrl, DEPOT_PROJECT_ID: peers.project }
    await withEnv(vars, async () => {
      const fromEnv = await Client.connect()
      assert.equal(fromEnv.apiUrl, peers.apiUrl)
      assert.equal(fromEnv.project, peers.project)
      assert.ok((await fromEnv.listProjects()).length > 0)
    })
  })

  test('issues pull tokens', async () => {
    const { token, registryHost } = await client.pullToken()
    assert.ok(token.length > 10)
    assert.equal(registryHost, new URL(peers.apiUrl).host)
  })

  test('a bad token rejects with AuthError', async () => {
    const bad = await Client.connect({ token: 'not-a-token', apiUrl: peers.apiUrl })
    const error = await bad.listProjects().catch((e) => e)
    assert.ok(error instanceof AuthError, String(error))
    assert.ok(error instanceof DepotError)
    assert.equal(error.code, 'unauthenticated')
    assert.match(error.message, /ListProjects|token/i)
  })

  test('a missing project rejects with ConfigError', async () => {
    const noProject = await Client.connect({ token: peers.token, apiUrl: peers.apiUrl, cwd: '/' })
    const error = await noProject.listImages().catch((e) => e)
    assert.ok(error instanceof ConfigError, String(error))
    assert.equal(error.code, 'config')
  })

  test('pushing a build that does not exist rejects with NotFoundError', async () => {
    const error = await client.push('nosuchbuild', [`${peers.registryHost}/node/none:1`]).catch((e) => e)
    assert.ok(error instanceof NotFoundError, String(error))
    assert.equal(error.code, 'not_found')
  })

  test('pulling what is neither a build nor a tag rejects with RegistryError and its causes', async () => {
    const error = await client.pull('no-such-tag', { ociLayout: `${peers.dir}/layout-none` }).catch((e) => e)
    assert.ok(error instanceof RegistryError, String(error))
    assert.equal(error.code, 'registry')
    assert.ok(error.cause instanceof Error, 'the registry\'s answer is the cause')
    assert.ok(!error.message.includes(error.cause.message), 'each thing is said once')
  })
})

describe('builds', () => {
  test('a build streams its steps and logs in order, saves, pulls back and pushes', async () => {
    const context = contextWith(peers.dir, 'RUN echo first-line && echo second-line\n')
    const seen = []
    const build = await client.build(context, {
      save: true,
      saveTags: ['node-extra'],
      buildContexts: { rootfs },
      noCache: true,
      onEvent: (event) => seen.push(event),
    })
    assert.match(build.buildId, /\S/)
    assert.ok(build.buildUrl.includes(build.buildId), build.buildUrl)
    const iterated = []
    for await (const event of build) iterated.push(event)
    const result = await build.result()
    assert.deepEqual(iterated, seen, 'the iterator and onEvent see the same events')
    const again = []
    for await (const event of build) again.push(event)
    assert.deepEqual(again, seen, 'a second iteration replays every event')
    // Keys are camelCase, like every other object of the package.
    const timed = seen.find((e) => e.type === 'vertex_completed')
    assert.equal(typeof timed.durationMs, 'number', JSON.stringify(timed))
    assert.ok(seen.every((e) => Object.keys(e).every((k) => !k.includes('_'))), 'no snake_case keys')

    // Step names arrive in order: ours first, then the RUN step's start, its logs, its end.
    const names = seen.filter((e) => e.type === 'vertex_started').map((e) => e.name)
    const connecting = names.findIndex((n) => n.startsWith('[depot] connecting to'))
    const run = names.findIndex((n) => n.includes('RUN echo first-line'))
    assert.ok(connecting >= 0 && run > connecting, JSON.stringify(names))
    const runVertex = seen.find((e) => e.type === 'vertex_started' && e.name.includes('RUN echo')).vertex
    const runEvents = seen.filter((e) => e.vertex === runVertex)
    const started = runEvents.findIndex((e) => e.type === 'vertex_started')
    const completed = runEvents.findIndex((e) => e.type === 'vertex_completed')
    const output = runEvents
      .filter((e) => e.type === 'log')
      .map((e) => e.text)
      .join('')
    assert.match(output, /first-line\n(.|\n)*second-line/)
    const firstLog = runEvents.findIndex((e) => e.type === 'log')
    assert.ok(started < firstLog && firstLog < completed, JSON.stringify(runEvents))

    assert.equal(result.buildId, build.buildId)
    assert.equal(result.projectId, peers.project)
    assert.match(result.imageDigest, /^sha256:[0-9a-f]{64}$/)
    assert.equal(result.metadata['containerimage.digest'], result.imageDigest)
    assert.deepEqual(result.metadata['depot.build'], { buildID: build.buildId, projectID: peers.project })
    assert.ok(result.savedTags.some((t) => t.endsWith(`${peers.project}:${build.buildId}`)), result.savedTags)
    assert.ok(result.savedTags.some((t) => t.endsWith(':node-extra')), result.savedTags)
    assert.equal(await buildStatus(build.buildId), 'finished')

    // Pulled back into Docker, named as asked.
    const name = `depot-rs-test/node-sdk:${build.buildId.toLowerCase()}`
    await client.pull(build.buildId, { tags: [name] })
    const id = execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', name], { encoding: 'utf8' })
    assert.match(id, /sha256:/)
    const ran = execFileSync('docker', ['run', '--rm', name, 'cat', '/bin/busybox'], { maxBuffer: 1 << 26 })
    assert.ok(ran.length > 0)

    // Into an OCI layout, by build and by saved tag: the same digest.
    const layout = `${peers.dir}/layout`
    const pulled = await client.pull(build.buildId, { ociLayout: layout, tags: ['v1'] })
    assert.equal(pulled.digest, result.imageDigest)
    assert.ok(existsSync(`${layout}/index.json`))
    const byTag = await client.pull('node-extra', { ociLayout: `${peers.dir}/layout-tag` })
    assert.equal(byTag.digest, result.imageDigest)
    // A bake target of a plain build is refused, saying why.
    const noTarget = await client.pull(build.buildId, { target: 'web', ociLayout: layout }).catch((e) => e)
    assert.ok(noTarget instanceof DepotError, String(noTarget))
    assert.equal(noTarget.code, 'invalid_argument')
    assert.match(noTarget.message, /has no bake target "web" \(it is not a bake build\)/)

    // Pushed to a second registry: the digest it serves is the build's.
    const progress = []
    const destination = `${peers.registryHost}/node/app:1`
    const pushed = await client.push(build.buildId, [destination], {
      onProgress: (event) => progress.push(event),
    })
    assert.equal(pushed.digest, result.imageDigest)
    // Its progress, per blob, ending with the manifest.
    // (Callbacks are queued for this thread; the last may land after the promise settles.)
    for (let i = 0; i < 100 && progress.at(-1)?.type !== 'manifest'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const done = progress.filter((e) => e.type === 'blob_done')
    assert.ok(done.length >= 2, JSON.stringify(progress))
    assert.ok(done.every((e) => e.target === destination && e.digest.startsWith('sha256:')), JSON.stringify(done))
    assert.ok(done.some((e) => e.transfer === 'copied'), JSON.stringify(done))
    assert.deepEqual(progress.at(-1), { type: 'manifest', target: destination, digest: result.imageDigest })
    assert.equal(await registryDigest(peers.registryHost, 'node/app', '1'), result.imageDigest)
    const copied = await copyImage(`${peers.registryHost}/node/app:1`, [`${peers.registryHost}/node/copy:2`])
    assert.equal(copied.digest, result.imageDigest)
    const nowhere = await copyImage(`${peers.registryHost}/node/app:1`, []).catch((e) => e)
    assert.equal(nowhere.code, 'invalid_argument')

    // Listed in the project's registry, then deleted.
    const images = await client.listImages()
    assert.ok(images.some((i) => i.tag === 'node-extra' && i.digest === result.imageDigest), JSON.stringify(images))
    assert.ok(images.every((i) => i.pushedAt instanceof Date), JSON.stringify(images))
    await client.deleteImages(['node-extra'])
    assert.ok(!(await client.listImages()).some((i) => i.tag === 'node-extra'))
    execFileSync('docker', ['rmi', name])
  })

  test('a two-platform build runs on a builder per architecture, with events of both', async () => {
    // COPY only (a file per architecture): no emulation needed on the arm64 builder.
    const context = mkdtempSync(join(peers.dir, 'multi-'))
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /arch.txt\n')
    for (const arch of ['amd64', 'arm64']) writeFileSync(join(context, `${arch}.txt`), `built for ${arch}\n`)
    const seen = []
    const build = await client.build(context, {
      platforms: ['linux/amd64', 'linux/arm64'],
      save: true,
      onEvent: (event) => seen.push(event),
    })
    const result = await build.result()
    const names = seen.filter((e) => e.type === 'vertex_started').map((e) => e.name)
    for (const expected of ['[depot] connecting to amd64 builder', '[depot] connecting to arm64 builder']) {
      assert.ok(names.includes(expected), JSON.stringify(names))
    }
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      assert.ok(
        seen.some((e) => e.type === 'vertex_completed' && e.name.includes(`[${platform}`)),
        `no completed step of ${platform}: ${JSON.stringify(names)}`,
      )
    }
    // One index: each platform pulls its own image, with its own file.
    const digests = {}
    for (const arch of ['amd64', 'arm64']) {
      const layout = join(peers.dir, `multi-${arch}`)
      const pulled = await client.pull(result.buildId, { ociLayout: layout, platform: `linux/${arch}` })
      const blob = (digest) => JSON.parse(readFileSync(join(layout, 'blobs/sha256', digest.slice(7)), 'utf8'))
      const config = blob(blob(pulled.digest).config.digest)
      assert.equal(config.architecture, arch)
      digests[arch] = pulled.digest
    }
    assert.notEqual(digests.amd64, digests.arm64)
    assert.ok(![digests.amd64, digests.arm64].includes(result.imageDigest), 'the build digest is the index')
  })

  test('a bake builds its targets (one FROM another) with events naming their target', async () => {
    const dir = mkdtempSync(join(peers.dir, 'bake-'))
    writeFileSync(join(dir, 'base.Dockerfile'), 'FROM scratch\nCOPY base.txt /base.txt\n')
    writeFileSync(join(dir, 'base.txt'), 'the base\n')
    writeFileSync(join(dir, 'app.txt'), 'the app\n')
    const name = `depot-rs-test/node-bake:${randomUUID().slice(0, 8)}`
    const definition = `
      variable "GREETING" { default = "unset" }
      group "default" { targets = ["app"] }
      target "base" { dockerfile = "base.Dockerfile" }
      target "app" {
        contexts = { base = "target:base" }
        dockerfile-inline = "FROM base\\nCOPY app.txt /app.txt\\n"
        labels = { greeting = "\${GREETING}" }
        tags = ["${name}"]
      }`
    const seen = []
    const bake = await client.bake({
      definition,
      dir,
      variables: { GREETING: 'hello from node' },
      save: true,
      load: true,
      onEvent: (event) => seen.push(event),
    })
    const result = await bake.result()
    assert.deepEqual(result.targets, ['app', 'base'])
    assert.deepEqual(result.metadata['depot.build'], { buildID: bake.buildId, projectID: peers.project })
    for (const target of ['app', 'base']) {
      assert.match(result.metadata[target]['containerimage.digest'], /^sha256:/)
      const steps = seen.filter((e) => e.target === target && e.type === 'vertex_completed')
      assert.ok(steps.some((e) => e.name.includes('COPY')), `no COPY step of ${target}: ${JSON.stringify(steps)}`)
    }
    assert.ok(
      seen.filter((e) => e.type === 'vertex_started' && e.name.startsWith('[depot]')).every((e) => !e.target),
      'depot steps belong to no target',
    )

    // Each target pulls back; app is built on base's layer, labelled from the variable.
    const layers = {}
    for (const target of ['app', 'base']) {
      const layout = join(peers.dir, `bake-${target}-${bake.buildId}`)
      const pulled = await client.pull(bake.buildId, { target, ociLayout: layout })
      const blob = (digest) => JSON.parse(readFileSync(join(layout, 'blobs/sha256', digest.slice(7)), 'utf8'))
      const manifest = blob(pulled.digest)
      layers[target] = manifest.layers.map((l) => l.digest)
      if (target === 'app') assert.equal(blob(manifest.config.digest).config.Labels.greeting, 'hello from node')
    }
    assert.equal(layers.app.length, 2)
    assert.equal(layers.app[0], layers.base[0])
    // load: the tagged target is in the Docker Engine.
    const id = execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', name], { encoding: 'utf8' })
    assert.match(id, /sha256:/)
    execFileSync('docker', ['rmi', name])
  })

  test('a bake file that does not evaluate rejects with its line and column', async () => {
    const error = await client
      .bake({ definition: 'target "app" {\n  tags = [UNDEFINED]\n}\n' })
      .catch((e) => e)
    assert.ok(error instanceof DepotError, String(error))
    assert.equal(error.code, 'invalid_argument')
    assert.match(error.message, /^inline:2:3: target "app": tags:/)
  })

  test('a failing step rejects with BuildFailed carrying its log', async () => {
    const context = contextWith(peers.dir, 'RUN echo about-to-fail && echo on-stderr >&2 && exit 3\n')
    const build = await client.build(context, { buildContexts: { rootfs }, noCache: true })
    const error = await build.result().catch((e) => e)
    assert.ok(error instanceof BuildFailed, String(error))
    assert.equal(error.code, 'build_failed')
    assert.equal(error.buildId, build.buildId)
    assert.equal(error.exitCode, 3)
    assert.match(error.step, /RUN echo about-to-fail/)
    assert.ok(error.logs.some((line) => line.includes('about-to-fail')), JSON.stringify(error.logs))
    assert.match(error.message, /exit code: 3/)
    const events = []
    for await (const event of build) events.push(event)
    assert.ok(events.some((e) => e.type === 'vertex_errored' && e.name.includes('RUN echo about-to-fail')))
    assert.equal(await buildStatus(build.buildId), 'failed')
  })

  test('aborting the signal cancels the build on the server', async () => {
    const context = contextWith(peers.dir, 'RUN echo sleeping-now && sleep 120\n')
    const controller = new AbortController()
    const build = await client.build(context, {
      buildContexts: { rootfs },
      noCache: true,
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'log' && event.text.includes('sleeping-now')) controller.abort()
      },
    })
    const error = await build.result().catch((e) => e)
    assert.ok(error instanceof BuildCanceled, String(error))
    assert.equal(error.code, 'canceled')
    assert.equal(await buildStatus(build.buildId), 'canceled')
  })

  test('an aborted signal does not start a build', async () => {
    const controller = new AbortController()
    controller.abort()
    const context = contextWith(peers.dir, 'RUN true\n')
    const error = await client.build(context, { signal: controller.signal }).catch((e) => e)
    assert.ok(error instanceof BuildCanceled, String(error))
  })

  test('an invalid context rejects before a builder is taken', async () => {
    const error = await client.build(`${peers.dir}/missing`).catch((e) => e)
    assert.ok(error instanceof DepotError, String(error))
    assert.equal(error.code, 'invalid_argument')
    assert.match(error.message, /not a directory/)
  })

  test('load puts the image into the Docker Engine under its tags', async () => {
    const name = `depot-rs-test/node-load:${randomUUID().slice(0, 8)}`
    const context = contextWith(peers.dir, 'RUN echo loaded > /tmp/marker\n')
    const build = await client.build(context, { buildContexts: { rootfs }, load: true, tags: [name] })
    await build.result()
    const marker = execFileSync('docker', ['run', '--rm', name, 'cat', '/tmp/marker'], { encoding: 'utf8' })
    assert.equal(marker, 'loaded\n')
    execFileSync('docker', ['rmi', name])
  })

  test('outputs to standard output are refused', async () => {
    const context = contextWith(peers.dir, 'RUN true\n')
    const error = await client.build(context, { outputs: ['type=tar,dest=-'] }).catch((e) => e)
    assert.ok(error instanceof DepotError, String(error))
    assert.equal(error.code, 'invalid_argument')
    assert.match(error.message, /dest=-/)
    // Flags fail like the CLI's, with the same message.
    const badLabel = await client.build(context, { labels: { '': 'x' } }).catch((e) => e)
    assert.equal(badLabel.message, 'invalid --label "=x": expected KEY=VALUE')
  })

  test('a builder can be acquired on its own and released', async () => {
    const builder = await client.acquireBuilder()
    assert.match(builder.endpoint, /^tcp:\/\//)
    assert.match(builder.caPem, /BEGIN CERTIFICATE/)
    assert.match(builder.certPem, /BEGIN CERTIFICATE/)
    assert.match(builder.keyPem, /PRIVATE KEY/)
    assert.equal(await buildStatus(builder.buildId), 'running')
    await builder.release()
    assert.equal(await buildStatus(builder.buildId), 'finished')
    // Released as canceled, it is reported so.
    const canceled = await client.acquireBuilder()
    await canceled.release({ outcome: 'canceled' })
    assert.equal(await buildStatus(canceled.buildId), 'canceled')
  })
})

describe('insights', () => {
  test("a build's steps, step log and summary, a share link, usage and project tokens", async () => {
    // A step no engine has cached (the marker), taking a second, printed to its log.
    const marker = randomUUID()
    const context = contextWith(peers.dir, `RUN echo insight-${marker} && sleep 1\n`)
    const build = async () => {
      const handle = await client.build(context, { buildContexts: { rootfs } })
      await handle.result()
      return handle.buildId
    }
    const first = await build()
    const steps = await client.buildSteps(first)
    const run = steps.find((s) => s.name.includes(`insight-${marker}`))
    assert.ok(run, JSON.stringify(steps))
    assert.equal(run.cached, false)
    assert.equal(run.hasLogs, true)
    assert.ok(run.startedAt instanceof Date && run.completedAt instanceof Date, JSON.stringify(run))
    const lines = await client.buildStepLogs(first, run.digest)
    assert.ok(lines.some((l) => l.message.endsWith(`insight-${marker}`)), JSON.stringify(lines))
    assert.ok(lines.every((l) => l.timestamp instanceof Date))

    // Built again: cached, and the summary counts the time the cached steps saved.
    const second = await build()
    const summary = await client.getBuild(second)
    assert.equal(summary.status, 'success')
    assert.ok(summary.cachedSteps >= 2 && summary.totalSteps >= summary.cachedSteps, JSON.stringify(summary))
    assert.ok(summary.savedDurationSeconds >= 1, JSON.stringify(summary))
    assert.ok(summary.finishedAt instanceof Date)
    const listed = await client.listBuilds({ limit: 2 })
    assert.deepEqual(
      listed.map((b) => b.buildId),
      [second, first],
    )

    // A share link shows the build without a token, until sharing stops.
    const link = await client.shareBuild(first)
    const shared = await fetch(link)
    assert.equal(shared.status, 200)
    assert.match(await shared.text(), new RegExp(`insight-${marker}`))
    await client.stopSharingBuild(first)
    assert.equal((await fetch(link)).status, 404)

    const usage = await client.usage()
    assert.ok(usage.periodStart instanceof Date && usage.periodEnd instanceof Date)
    assert.ok(usage.containerBuilds.reduce((n, u) => n + u.buildCount, 0) >= 2, JSON.stringify(usage))
    assert.ok(usage.containerBuilds.reduce((n, u) => n + u.minutesSaved, 0) > 0, JSON.stringify(usage))
    const projectUsage = await client.projectUsage({ start: new Date(Date.now() - 3600_000) })
    assert.equal(projectUsage.projectId, peers.project)
    assert.ok(projectUsage.buildCount >= 2, JSON.stringify(projectUsage))

    // A project token: created (its secret works), renamed, deleted (its secret stops working).
    const created = await client.createToken('node ci')
    const asToken = await Client.connect({ token: created.secret, apiUrl: peers.apiUrl, project: peers.project })
    assert.ok((await asToken.listBuilds({ limit: 1 })).length === 1)
    await client.updateToken(created.tokenId, 'node ci (renamed)')
    const tokens = await client.listTokens()
    assert.deepEqual(
      tokens.filter((t) => t.tokenId === created.tokenId),
      [{ tokenId: created.tokenId, description: 'node ci (renamed)' }],
    )
    await client.deleteToken(created.tokenId)
    const refused = await asToken.listBuilds().catch((e) => e)
    assert.ok(refused instanceof AuthError, String(refused))
    assert.ok(!(await client.listTokens()).some((t) => t.tokenId === created.tokenId))
  })
})

describe('oidc', () => {
  test('finds no CI token outside CI, and a GitLab job token inside one', async () => {
    const outside = {
      GITLAB_CI: undefined,
      DEPOT_OIDC_TOKEN: undefined,
      CIRCLE_OIDC_TOKEN_V2: undefined,
      ACTIONS_ID_TOKEN_REQUEST_URL: undefined,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: undefined,
      BUILDKITE_AGENT_ACCESS_TOKEN: undefined,
    }
    await withEnv(outside, async () => {
      assert.equal(await detectCiToken(), null)
      await withEnv({ GITLAB_CI: 'true', DEPOT_OIDC_TOKEN: 'header.payload.signature' }, async () => {
        assert.deepEqual(await detectCiToken(), { provider: 'gitlab', token: 'header.payload.signature' })
      })
    })
  })

  test("a CI job's token is detected and exchanged for a project token", async () => {
    const added = await depot(
      ['projects', 'trust-policies', 'add', 'gitlab', '--namespace', 'acme', '--project-path', 'acme/app',
        '--project', peers.project],
      { env: peers.cliEnv },
    )
    assert.equal(added.exitCode, 0, added.stderr)
    const now = Math.floor(Date.now() / 1000)
    const jwt = issuer.mint({
      iss: issuer.url,
      aud: 'https://depot.dev',
      sub: 'project_path:acme/app:ref_type:branch:ref:main',
      jti: randomUUID(),
      iat: now,
      nbf: now,
      exp: now + 300,
      namespace_path: 'acme',
      project_path: 'acme/app',
    })
    const exchanged = await withEnv({ GITLAB_CI: 'true', DEPOT_OIDC_TOKEN: jwt }, async () => {
      assert.deepEqual(await detectCiToken(), { provider: 'gitlab', token: jwt })
      return client.exchangeCiToken()
    })
    assert.equal(exchanged.projectId, peers.project)
    // It expires with the CI token (to the second), not after the server's one-hour limit.
    assert.ok(exchanged.expiresAt instanceof Date)
    assert.ok(exchanged.expiresAt.getTime() > Date.now() && exchanged.expiresAt.getTime() < (now + 301) * 1000, String(exchanged.expiresAt))
    const asJob = await Client.connect({ token: exchanged.token, apiUrl: peers.apiUrl, project: peers.project })
    assert.ok((await asJob.pullToken()).token.length > 10)
    // Each CI token is exchanged once.
    const again = await client.exchangeCiToken({ token: jwt }).catch((e) => e)
    assert.ok(again instanceof DepotError, String(again))
    assert.equal(again.code, 'already_exists')
  })

  test('the server refuses to exchange a token it cannot verify', async () => {
    const error = await client.exchangeCiToken({ token: 'header.payload.signature' }).catch((e) => e)
    assert.ok(error instanceof AuthError, String(error))
    assert.equal(error.code, 'unauthenticated')
  })
})

describe('examples', () => {
  test('examples/build.mjs builds and saves a directory', async () => {
    // A step of its own, so that BuildKit's cache cannot answer it from an earlier run.
    const nonce = randomUUID()
    const context = contextWith(peers.dir, `RUN echo example-${nonce}\n`)
    const output = execFileSync(
      process.execPath,
      ['examples/build.mjs', context, '--build-context', `rootfs=${rootfs}`],
      { env: { ...peers.cliEnv, DEPOT_PROJECT_ID: peers.project }, encoding: 'utf8' },
    )
    assert.match(output, new RegExp(`^=> \\[\\S* ?2/2\\] RUN echo example-${nonce}$`, 'm'))
    assert.match(output, new RegExp(`^ {3}example-${nonce}$`, 'm'))
    assert.match(output, /^saved sha256:[0-9a-f]{64} as \S+/m)
  })
})

describe('bundled CLI', () => {
  test('depot() runs the CLI built from the workspace', async () => {
    assert.ok(existsSync(depotBinaryPath()))
    const version = await depot(['--version'])
    assert.equal(version.exitCode, 0, version.stderr)
    assert.match(version.stdout, /\d+\.\d+\.\d+/)
    const projects = await depot(['list', 'projects', '--output', 'json'], { env: peers.cliEnv })
    assert.equal(projects.exitCode, 0, projects.stderr)
    assert.ok(JSON.parse(projects.stdout).some((p) => p.id === peers.project), projects.stdout)
  })
})
