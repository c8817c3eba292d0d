// Real peers for the package's tests: a depot-server process (DEPOT_SERVER_BIN, built from this
// workspace) with a bootstrapped project and token, a CNCF distribution registry
// (`docker-registry`) as a second registry, and a busybox root file system so that builds need
// no base image from the network. Every process started here is stopped by `stop()`.

import { spawn, execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

/** A free TCP port on 127.0.0.1. */
async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Resolves with the first line of `stream` that `match` maps to a value. */
function waitForLine(stream, match, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 30 s`)), 30_000)
    createInterface({ input: stream }).on('line', (line) => {
      const found = match(line)
      if (found !== undefined) {
        clearTimeout(timer)
        resolve(found)
      }
    })
  })
}

/** Starts depot-server (with `serverArgs`), bootstraps it and starts a second registry. */
export async function startPeers(serverArgs = []) {
  const serverBin = process.env.DEPOT_SERVER_BIN
  if (!serverBin) {
    throw new Error('DEPOT_SERVER_BIN is not set: run scripts/test-node.sh')
  }
  const dir = mkdtempSync(join(tmpdir(), 'depot-node-test-'))
  const children = []
  const env = { ...process.env, DEPOT_SERVER_DATA_DIR: join(dir, 'server'), DEPOT_SERVER_LOG: 'warn' }
  mkdirSync(env.DEPOT_SERVER_DATA_DIR)

  const server = spawn(serverBin, ['--listen', '127.0.0.1:0', ...serverArgs], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(server)
  const apiUrl = await waitForLine(
    server.stdout,
    (line) => (line.startsWith('depot-server listening on ') ? line.slice(26).trim() : undefined),
    'depot-server',
  )
  const boot = JSON.parse(
    execFileSync(serverBin, ['bootstrap', '--user', 'node', '--output', 'json'], { env, encoding: 'utf8' }),
  )

  const registryPort = await freePort()
  const registryConfig = join(dir, 'registry.yml')
  writeFileSync(
    registryConfig,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'registry')}`,
      'http:',
      `  addr: 127.0.0.1:${registryPort}`,
      '',
    ].join('\n'),
  )
  const registry = spawn('docker-registry', ['serve', registryConfig], { stdio: 'ignore' })
  children.push(registry)
  const registryHost = `127.0.0.1:${registryPort}`
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${registryHost}/v2/`)).ok) break
    } catch (error) {
      if (i > 300) throw error
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  return {
    dir,
    apiUrl,
    token: boot.token,
    project: boot.project_id,
    registryHost,
    /** The environment the `depot` CLI needs to reach the server. */
    cliEnv: { ...process.env, DEPOT_API_URL: apiUrl, DEPOT_TOKEN: boot.token, DEPOT_NO_UPDATE_NOTIFIER: '1' },
    stop() {
      for (const child of children) child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A busybox root file system, used by the test Dockerfiles as the `rootfs` build context. */
export function busyboxRootfs(parent) {
  const root = mkdtempSync(join(parent, 'rootfs-'))
  mkdirSync(join(root, 'bin'))
  mkdirSync(join(root, 'tmp'))
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'))
  for (const tool of ['sh', 'echo', 'sleep', 'cat', 'false', 'true']) {
    symlinkSync('busybox', join(root, 'bin', tool))
  }
  return root
}

/** A build context whose Dockerfile starts from the busybox root file system, then `steps`. */
export function contextWith(parent, steps) {
  const dir = mkdtempSync(join(parent, 'context-'))
  writeFileSync(join(dir, 'Dockerfile'), `FROM scratch\nCOPY --from=rootfs / /\n${steps}`)
  return dir
}

/** The manifest digest the registry at `host` serves for `repository:tag`. */
export async function registryDigest(host, repository, tag) {
  const response = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ].join(', '),
    },
  })
  if (!response.ok) throw new Error(`HEAD ${repository}:${tag}: ${response.status}`)
  return response.headers.get('docker-content-digest')
}
