// Type-checked (tsc --noEmit --strict) against the installed package: the API as TypeScript
// users write it. Never run.
import {
  AuthError,
  BuildFailed,
  Client,
  DepotError,
  copyImage,
  depot,
  depotBinaryPath,
  detectCiToken,
  type BuildEvent,
  type BuildResult,
  type BuildStep,
  type BuildSummary,
  type ProjectToken,
  type Usage,
  type ErrorCode,
  type RegistryProgress,
} from '@depot-rs/sdk'

export async function usage(): Promise<string | null> {
  const client = await Client.connect({ token: 'dpp_…', apiUrl: 'http://127.0.0.1:8080' })
  const project: string | null = client.project
  const projects = await client.listProjects()
  const names: string[] = projects.map((p) => p.name)
  const { token: pullToken, registryHost } = await client.pullToken({ project: project ?? undefined })
  const orgNames: Array<string | null | undefined> = projects.map((p) => p.orgName)

  const controller = new AbortController()
  const build = await client.build('.', {
    tags: ['registry.example/app:1'],
    buildArgs: { VERSION: '1' },
    platforms: ['linux/amd64'],
    save: true,
    signal: controller.signal,
    onEvent: (event: BuildEvent) => {
      if (event.type === 'log') process.stdout.write(event.text)
    },
  })
  for await (const event of build) {
    switch (event.type) {
      case 'vertex_started':
        console.log(event.name, event.startedMs)
        break
      case 'vertex_errored':
        console.log(event.error, event.canceled)
        break
      default:
        break
    }
  }
  try {
    const result: BuildResult = await build.result()
    const digest: string | undefined | null = result.imageDigest
    const saved: string[] = result.savedTags
    console.log(digest, saved, result.metadata['containerimage.digest'])
  } catch (error) {
    if (error instanceof BuildFailed) {
      const step: string | null = error.step
      const logs: string[] = error.logs
      const exitCode: number | null = error.exitCode
      console.log(step, logs.join('\n'), exitCode, error.buildId)
    } else if (error instanceof AuthError || error instanceof DepotError) {
      const code: ErrorCode = error.code
      console.log(code, error.cause)
    }
  }

  const bake = await client.bake({
    files: ['docker-bake.hcl'],
    targets: ['app'],
    set: ['*.platform=linux/amd64'],
    variables: { TAG: '1' },
    save: true,
    onEvent: (event: BuildEvent) => {
      const target: string | undefined = event.target
      if (event.type === 'vertex_completed') console.log(target, event.name)
    },
  })
  const baked: BuildResult = await bake.result()
  const targets: string[] = baked.targets
  console.log(targets, baked.metadata['depot.build'])

  const url: string = build.buildUrl
  const pulled = await client.pull(build.buildId, { ociLayout: './layout' })
  const pushed = await client.push(build.buildId, ['registry.example/app:1'], {
    target: 'web',
    onProgress: (event: RegistryProgress) => {
      if (event.type === 'blob_done') console.log(event.digest, event.transfer)
    },
  })
  const copied = await copyImage('a.example/app:1', ['b.example/app:1'], {
    destinationCredentials: { username: 'u', password: 'p' },
  })
  const images = await client.listImages()
  const pushedAt: Date | null = images[0]?.pushedAt ?? null
  await client.deleteImages(images.map((i) => i.tag))
  const builder = await client.acquireBuilder({ platform: 'linux/amd64' })
  const endpoint: string = builder.endpoint
  await builder.release({ outcome: 'error', error: 'the tests failed' })
  const [latest]: BuildSummary[] = await client.listBuilds({ limit: 1 })
  const summary = await client.getBuild(latest?.buildId ?? 'b1')
  const saved: number | null = summary.savedDurationSeconds
  const steps: BuildStep[] = await client.buildSteps(summary.buildId)
  const lines = await client.buildStepLogs(summary.buildId, steps[0]?.digest ?? '')
  const printedAt: Date | null = lines[0]?.timestamp ?? null
  const link: string = await client.shareBuild(summary.buildId)
  await client.stopSharingBuild(summary.buildId)
  const usage: Usage = await client.usage({ start: new Date(0) })
  const minutes: number = usage.containerBuilds[0]?.minutesSaved ?? 0
  const { buildCount } = await client.projectUsage({ project: 'p1' })
  const { tokenId, secret } = await client.createToken('ci')
  await client.updateToken(tokenId, 'ci (renamed)')
  const tokens: ProjectToken[] = await client.listTokens()
  await client.deleteToken(tokenId)
  console.log(saved, printedAt, link, minutes, buildCount, secret, tokens)
  const ci = await detectCiToken({ audience: 'https://depot.dev' })
  if (ci !== null) {
    const exchanged = await client.exchangeCiToken({ token: ci.token })
    const expires: Date = exchanged.expiresAt
    console.log(expires)
  }
  const run = await depot(['--version'])
  const exit: number | null = run.exitCode
  console.log(names, orgNames, pullToken, registryHost, url, pulled.digest, pushed.digest, copied.digest)
  console.log(pushedAt, endpoint, exit, depotBinaryPath())
  return project
}
