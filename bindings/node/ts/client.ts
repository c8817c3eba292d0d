/** The client: everything that talks to the API, the registry or a builder. */

import * as binding from '../native/native.js'
import type {
  AcquireOptions,
  BakeOptions as NativeBakeOptions,
  BuildOptions as NativeBuildOptions,
  ConnectOptions,
  CopyImageOptions,
  CreateProjectOptions,
  DetectedToken,
  DetectOptions,
  ExchangeOptions,
  Image as NativeImage,
  ListBuildsOptions,
  NativeBuild,
  NativeBuilder,
  NativeClient,
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
import { BuildHandle } from './build'
import type {
  BuildStep,
  BuildSummary,
  CreatedToken,
  LogLine,
  ProjectToken,
  ProjectUsage,
  Usage,
  UsageOptions,
} from './insights'
import { withDates } from './insights'
import { BuildCanceled, native } from './errors'
import type { BuildEvent, RegistryProgress } from './events'

/** How to follow and stop a build or a bake. */
export interface Following {
  /** Called with every event, in order, as the build reports it. */
  onEvent?: (event: BuildEvent) => void
  /** Aborting it cancels the build; `result()` then rejects with `BuildCanceled`. */
  signal?: AbortSignal
}

/** A build, with the options of `depot build`, plus how to follow and stop it. */
export interface BuildOptions extends NativeBuildOptions, Following {}

/** A bake, with the options of `depot bake`, plus how to follow and stop it. Its events carry
 * the `target` they belong to. */
export interface BakeOptions extends NativeBakeOptions, Following {}

/** What registry transfers (`pull`, `push`, `copyImage`) take besides their options. */
export interface WithProgress {
  /** Called with every progress event of the transfer, per blob, as it happens. */
  onProgress?: (event: RegistryProgress) => void
}

/** An image in the project's registry. */
export interface Image extends Omit<NativeImage, 'pushedAt'> {
  /** When it was pushed. */
  pushedAt: Date | null
}

/** A short-lived project token from the OIDC exchange. */
export interface ExchangedToken {
  /** The project token, usable as `DEPOT_TOKEN` or as the registry password. */
  token: string
  /** When it expires. */
  expiresAt: Date
  /** Its project. */
  projectId: string
}

/** A builder acquired on its own, with how to reach its BuildKit; release it when done. */
export class Builder {
  /** The build registered for the builder. */
  readonly buildId: string
  /** Its project. */
  readonly projectId: string
  /** BuildKit's address, `tcp://host:port`. */
  readonly endpoint: string
  /** The name the builder's certificate carries. */
  readonly serverName: string | null
  /** The CA certificate (PEM) the builder's certificate chains to. */
  readonly caPem: string | null
  /** The client certificate (PEM). */
  readonly certPem: string | null
  /** The client key (PEM). */
  readonly keyPem: string | null
  readonly #native: NativeBuilder

  /** @internal Made by `Client.acquireBuilder`. */
  constructor(builder: NativeBuilder) {
    this.#native = builder
    this.buildId = builder.buildId
    this.projectId = builder.projectId
    this.endpoint = builder.endpoint
    this.serverName = builder.serverName ?? null
    this.caPem = builder.caPem ?? null
    this.certPem = builder.certPem ?? null
    this.keyPem = builder.keyPem ?? null
  }

  /** Releases the builder, reporting how its build ended (`success` unless `error` is given). */
  release(options?: ReleaseOptions): Promise<void> {
    return native(() => this.#native.release(options))
  }
}

/** A client of depot-rs's (or Depot's) API with resolved configuration. */
export class Client {
  readonly #native: NativeClient

  private constructor(client: NativeClient) {
    this.#native = client
  }

  /**
   * Resolves configuration exactly like the `depot` CLI — the token from `token`, `DEPOT_TOKEN`,
   * the stored login, then the CI job's OIDC token; the API from `apiUrl` or `DEPOT_API_URL`;
   * the project from `project`, `DEPOT_PROJECT_ID`, then the nearest `depot.json` from `cwd` —
   * and makes a client.
   */
  static async connect(options?: ConnectOptions): Promise<Client> {
    return new Client(await native(() => binding.connect(options)))
  }

  /** The resolved project ID, if any. */
  get project(): string | null {
    return this.#native.project ?? null
  }

  /** The API's URL. */
  get apiUrl(): string {
    return this.#native.apiUrl
  }

  /** The projects the token can see. */
  listProjects(): Promise<Project[]> {
    return native(() => this.#native.listProjects())
  }

  /** Creates a project. */
  createProject(name: string, options?: CreateProjectOptions): Promise<Project> {
    return native(() => this.#native.createProject(name, options))
  }

  /** A short-lived, read-only registry token for the project (or one build's image). */
  pullToken(options?: PullTokenOptions): Promise<PullToken> {
    return native(() => this.#native.pullToken(options))
  }

  /** Registers a build of the `context` directory, starts it, and returns its handle once it
   * has an ID. The options are `depot build`'s flags, parsed by the same Rust code. */
  async build(context: string, options?: BuildOptions): Promise<BuildHandle> {
    const { onEvent, signal, ...buildOptions } = options ?? {}
    return follow(() => this.#native.build(context, buildOptions), { onEvent, signal })
  }

  /** Evaluates bake files (`files`, or `definition` text, else the default files of `dir`) as
   * `docker buildx bake` does and builds their targets as one bake on the project's builder,
   * returning its handle once it has an ID. `result()` has every target's metadata. */
  async bake(options?: BakeOptions): Promise<BuildHandle> {
    const { onEvent, signal, ...bakeOptions } = options ?? {}
    return follow(() => this.#native.bake(bakeOptions), { onEvent, signal })
  }

  /** Registers a build and waits for its builder, for use with another BuildKit client. */
  async acquireBuilder(options?: AcquireOptions): Promise<Builder> {
    return new Builder(await native(() => this.#native.acquireBuilder(options)))
  }

  /** Pulls `reference` — a saved build's ID (one bake `target` of it), else a tag of the
   * project's registry — into the Docker Engine, or into an OCI image layout with `ociLayout`. */
  pull(reference: string, options?: PullOptions & WithProgress): Promise<PullResult> {
    const { onProgress, ...rest } = options ?? {}
    return native(() => this.#native.pull(reference, rest, onProgress))
  }

  /** Pushes a saved build (one bake `target` of it) to other registries (`tags`). */
  push(buildId: string, tags: string[], options?: PushOptions & WithProgress): Promise<PushResult> {
    const { onProgress, ...rest } = options ?? {}
    return native(() => this.#native.push(buildId, tags, rest, onProgress))
  }

  /** The images in the project's registry. */
  async listImages(options?: ProjectOptions): Promise<Image[]> {
    const images = await native(() => this.#native.listImages(options))
    return images.map((image) => ({ ...image, pushedAt: toDate(image.pushedAt) }))
  }

  /** Deletes tags from the project's registry. */
  deleteImages(tags: string[], options?: ProjectOptions): Promise<void> {
    return native(() => this.#native.deleteImages(tags, options))
  }

  /** A build's summary: status, timings, steps cached and total, time saved. */
  async getBuild(buildId: string): Promise<BuildSummary> {
    return withDates(await native(() => this.#native.getBuild(buildId)))
  }

  /** The project's builds, newest first (`limit`, default 100). */
  async listBuilds(options?: ListBuildsOptions): Promise<BuildSummary[]> {
    const builds = await native(() => this.#native.listBuilds(options))
    return builds.map((build) => withDates<BuildSummary>(build))
  }

  /** Every step of a build, in the order they started. */
  async buildSteps(buildId: string): Promise<BuildStep[]> {
    const steps = await native(() => this.#native.buildSteps(buildId))
    return steps.map((step) => withDates<BuildStep>(step))
  }

  /** Every kept line one step of a build printed (`digest` from `buildSteps`). */
  async buildStepLogs(buildId: string, digest: string): Promise<LogLine[]> {
    const lines = await native(() => this.#native.buildStepLogs(buildId, digest))
    return lines.map((line) => withDates<LogLine>(line))
  }

  /** Shares a build: a link that shows it without a token, until `stopSharingBuild`. */
  shareBuild(buildId: string): Promise<string> {
    return native(() => this.#native.shareBuild(buildId))
  }

  /** Stops sharing a build: its link stops working. */
  stopSharingBuild(buildId: string): Promise<void> {
    return native(() => this.#native.stopSharingBuild(buildId))
  }

  /** Usage of every project the token administers, in a period. */
  async usage(options?: UsageOptions): Promise<Usage> {
    return withDates(await native(() => this.#native.usage(period(options))))
  }

  /** One project's builds in a period. */
  projectUsage(options?: UsageOptions): Promise<ProjectUsage> {
    return native(() => this.#native.projectUsage(period(options)))
  }

  /** The project's tokens. */
  listTokens(options?: ProjectOptions): Promise<ProjectToken[]> {
    return native(() => this.#native.listTokens(options))
  }

  /** Creates a project token; its secret is shown only now. */
  createToken(description: string, options?: ProjectOptions): Promise<CreatedToken> {
    return native(() => this.#native.createToken(description, options))
  }

  /** Changes a project token's description. */
  updateToken(tokenId: string, description: string): Promise<void> {
    return native(() => this.#native.updateToken(tokenId, description))
  }

  /** Deletes a project token: it stops working at once. */
  deleteToken(tokenId: string): Promise<void> {
    return native(() => this.#native.deleteToken(tokenId))
  }

  /** Exchanges the CI job's OIDC token (detected, or `token`) for a short-lived project token. */
  async exchangeCiToken(options?: ExchangeOptions): Promise<ExchangedToken> {
    const exchanged = await native(() => this.#native.exchangeCiToken(options))
    return { ...exchanged, expiresAt: new Date(exchanged.expiresAt) }
  }
}

/** Copies any image (or index) between registries, blobs first and manifests byte for byte;
 * resolves to its digest, the same in every destination. */
export function copyImage(
  source: string,
  destinations: string[],
  options?: CopyImageOptions & WithProgress,
): Promise<PushResult> {
  const { onProgress, ...rest } = options ?? {}
  return native(() => binding.copyImage(source, destinations, rest, onProgress))
}

/** The CI job's OIDC token and its provider, or `null` outside CI. */
export async function detectCiToken(options?: DetectOptions): Promise<DetectedToken | null> {
  return (await native(() => binding.detectCiToken(options))) ?? null
}

/** `options`' dates as milliseconds, for the native layer. */
function period(options?: UsageOptions): { project?: string; start?: number; end?: number } {
  return {
    project: options?.project,
    start: options?.start?.getTime(),
    end: options?.end?.getTime(),
  }
}

function toDate(milliseconds: number | null | undefined): Date | null {
  return milliseconds === null || milliseconds === undefined ? null : new Date(milliseconds)
}

/** Starts a build with `start` and follows it as `following` asks. */
async function follow(start: () => Promise<NativeBuild>, following: Following): Promise<BuildHandle> {
  const { onEvent, signal } = following
  if (signal?.aborted) {
    throw new BuildCanceled('canceled', 'build canceled before it started')
  }
  const build = new BuildHandle(await native(start), onEvent)
  if (signal !== undefined) {
    const cancel = (): void => build.cancel()
    if (signal.aborted) {
      cancel()
    } else {
      signal.addEventListener('abort', cancel, { once: true })
      const forget = (): void => signal.removeEventListener('abort', cancel)
      build.result().then(forget, forget)
    }
  }
  return build
}
