/**
 * The `depot` CLI bundled with the package (built from the same workspace), for code written
 * against `@depot/cli`'s `depot()` and `depotBinaryPath()`.
 */

import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

/** How to run the CLI. */
export interface DepotOptions {
  /** The working directory (default: the current one). */
  cwd?: string
  /** The environment (default: this process's). */
  env?: NodeJS.ProcessEnv
  /** Written to the CLI's standard input, which is then closed. */
  input?: string
  /** `pipe` (default) captures stdout and stderr; `inherit` shares this process's. */
  stdio?: 'pipe' | 'inherit'
}

/** How the CLI ended. */
export interface DepotResult {
  /** The exit code (`null` when a signal ended it). */
  exitCode: number | null
  /** The signal that ended it, if any. */
  signal: NodeJS.Signals | null
  /** What it wrote to stdout (empty with `stdio: 'inherit'`). */
  stdout: string
  /** What it wrote to stderr (empty with `stdio: 'inherit'`). */
  stderr: string
}

/** The path of the bundled `depot` binary (`DEPOT_BINARY_PATH` overrides it). */
export function depotBinaryPath(): string {
  const override = process.env.DEPOT_BINARY_PATH
  if (override !== undefined && override !== '') {
    return override
  }
  const bundled = join(__dirname, '..', 'bin', 'depot')
  if (!existsSync(bundled)) {
    throw new Error(`the bundled depot CLI is missing at ${bundled}; set DEPOT_BINARY_PATH`)
  }
  return bundled
}

/** Runs the bundled `depot` CLI with `args`; resolves with its exit status and output. */
export function depot(args: string[], options: DepotOptions = {}): Promise<DepotResult> {
  const stdio = options.stdio ?? 'pipe'
  return new Promise((resolve, reject) => {
    const child = spawn(depotBinaryPath(), args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: stdio === 'inherit' ? ['pipe', 'inherit', 'inherit'] : 'pipe',
    })
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr }))
    child.stdin?.end(options.input ?? '')
  })
}
