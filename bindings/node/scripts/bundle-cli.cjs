// Runs before `npm pack`: copies the `depot` CLI built from this workspace into bin/, where
// depotBinaryPath() finds it in the installed package. DEPOT_CLI_BINARY names the binary to
// bundle; by default it is cargo's debug build (CARGO_TARGET_DIR, else the workspace's target/).
const { chmodSync, copyFileSync, existsSync, mkdirSync } = require('node:fs')
const { join, resolve } = require('node:path')

const workspace = resolve(__dirname, '..', '..', '..')
const targetDir = process.env.CARGO_TARGET_DIR || join(workspace, 'target')
const source = process.env.DEPOT_CLI_BINARY || join(targetDir, 'debug', 'depot')
if (!existsSync(source)) {
  console.error(`no depot CLI at ${source}: run \`cargo build -p depot\` first (or set DEPOT_CLI_BINARY)`)
  process.exit(1)
}
const bin = join(__dirname, '..', 'bin')
mkdirSync(bin, { recursive: true })
copyFileSync(source, join(bin, 'depot'))
chmodSync(join(bin, 'depot'), 0o755)
console.error(`bundled ${source} as bin/depot`)
