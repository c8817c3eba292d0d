// Runs before `npm pack`: copies the `depot` CLI built from this workspace into bin/, where
// depotBinaryPath() finds it in the installed package. DEPOT_CLI_BINARY names the binary to
// bundle; by default it is cargo's debug build (CARGO_TARGET_DIR, else the workspace's target/),
// built first when missing. scripts/package.sh bundles the release build.
const { execFileSync } = require('node:child_process')
const { chmodSync, copyFileSync, existsSync, mkdirSync } = require('node:fs')
const { join, resolve } = require('node:path')

const workspace = resolve(__dirname, '..', '..', '..')
const targetDir = process.env.CARGO_TARGET_DIR || join(workspace, 'target')
const source = process.env.DEPOT_CLI_BINARY || join(targetDir, 'debug', 'depot')
if (!existsSync(source) && !process.env.DEPOT_CLI_BINARY) {
  // A plain `npm pack` from a checkout builds the CLI it bundles.
  console.error('building the depot CLI to bundle (cargo build -p depot)')
  execFileSync('cargo', ['build', '--locked', '-p', 'depot'], { cwd: workspace, stdio: 'inherit' })
}
if (!existsSync(source)) {
  console.error(`no depot CLI at ${source}: build it (cargo build -p depot) or set DEPOT_CLI_BINARY`)
  process.exit(1)
}
const bin = join(__dirname, '..', 'bin')
mkdirSync(bin, { recursive: true })
copyFileSync(source, join(bin, 'depot'))
chmodSync(join(bin, 'depot'), 0o755)
console.error(`bundled ${source} as bin/depot`)
