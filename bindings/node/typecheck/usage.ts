// Type-checked (tsc --noEmit --strict) against the installed package: the API as TypeScript
// users write it. Never run.
import {
  AuthError,
  BuildFailed,
  Client,
  DepotError,
  depot,
  depotBinaryPath,
  detectCiToken,
  type BuildEvent,
  type BuildResult,
  type ErrorCode,
  type RegistryProgress,
} from '@depot-rs/sdk'

export async function usage(): Promise<string | null> {
  const client = await Client.connect({ token: 'dpp_…', apiUrl: 'http://127.0.0.1:8080' })
  const project: string | null = client.project
  const projects = await client.listProjects()
  const names: string[] = projects.map((p) => p.name)
  const pullToken: string = await client.pullToken({ project: project ?? undefined })

  const controller = new AbortController()
  const build = await client.build({
    context: '.',
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
        console.log(event.name, event.started_ms)
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
      const log: string[] = error.log
      console.log(step, log.join('\n'))
    } else if (error instanceof AuthError || error instanceof DepotError) {
      const code: ErrorCode = error.code
      console.log(code, error.cause)
    }
  }

  const pulled = await client.pull({ buildId: build.buildId, ociLayout: './layout' })
  const pushed = await client.push({
    buildId: build.buildId,
    target: 'web',
    tags: ['registry.example/app:1'],
    onProgress: (event: RegistryProgress) => {
      if (event.type === 'blob_done') console.log(event.digest, event.transfer)
    },
  })
  const images = await client.listImages()
  await client.deleteImage({ tags: images.map((i) => i.tag) })
  const builder = await client.acquireBuilder({ platform: 'linux/amd64' })
  const endpoint: string = builder.connection.endpoint
  await builder.release()
  const ci = await detectCiToken({ audience: 'https://depot.dev' })
  if (ci !== null) {
    const exchanged = await client.exchangeCiToken({ token: ci.token })
    const expires: number = exchanged.expiresAt
    console.log(expires)
  }
  const run = await depot(['--version'])
  const exit: number | null = run.exitCode
  console.log(names, pullToken, pulled.digest, pushed.digest, endpoint, exit, depotBinaryPath())
  return project
}
