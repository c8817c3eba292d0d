/**
 * `@depot-rs/sdk`: remote container builds, the project registry and CI OIDC tokens from Node,
 * over depot-rs's Rust core, plus the bundled `depot` CLI.
 *
 * ```ts
 * import { Client } from '@depot-rs/sdk'
 * const client = await Client.connect()
 * const build = await client.build('.', { save: true })
 * for await (const event of build) if (event.type === 'log') process.stdout.write(event.text)
 * const { imageDigest, savedTags } = await build.result()
 * ```
 */

export { BuildHandle } from './build'
export type { BuildResult } from './build'
export { Builder, Client, copyImage, detectCiToken } from './client'
export type { BakeOptions, BuildOptions, ExchangedToken, Following, Image, WithProgress } from './client'
export { depot, depotBinaryPath } from './cli'
export type { DepotOptions, DepotResult } from './cli'
export {
  AuthError,
  BuildCanceled,
  BuildFailed,
  ConfigError,
  DepotError,
  NotFoundError,
  RegistryError,
  fromNative,
} from './errors'
export type { ErrorCode } from './errors'
export type * from './events'
export type {
  BuildStep,
  BuildSummary,
  CreatedToken,
  LogLine,
  ProjectToken,
  ProjectUsage,
  Usage,
  UsageOptions,
} from './insights'
export type {
  AcquireOptions,
  ConnectOptions,
  CopyImageOptions,
  CreateProjectOptions,
  Credentials,
  DetectedToken,
  DetectOptions,
  ExchangeOptions,
  ListBuildsOptions,
  Project,
  ProjectOptions,
  PullOptions,
  PullResult,
  PullToken,
  PullTokenOptions,
  PushOptions,
  PushResult,
  ReleaseOptions,
} from '../native/native.js'
