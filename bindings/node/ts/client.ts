/** The client: everything that talks to the API, the registry or a builder. */

import * as binding from '../native/native.js'
import type {
  AcquireOptions,
  BuilderConnection,
  BuildOptions as NativeBuildOptions,
  ConnectOptions,
  CopyImageOptions,
  CreateProjectOptions,
  DetectedToken,
  DetectOptions,
  ExchangedToken,
  ExchangeOptions,
  Image,
  ImagesOptions,
  NativeBuilder,
  NativeClient,
  Project,
  PullOptions,
  PullResult,
  PullTokenOptions,
  PushOptions,
  PushResult,
} from '../native/native.js'
import { BuildHandle } from './build'
import { BuildCanceled, native } from './errors'
import type { BuildEvent, RegistryProgress } from './events'

/** A build, with the options of `depot build`, plus how to follow and stop it. */
export interface BuildOptions extends NativeBuildOptions {
  /** Called with every event, in order, as the build reports it. */
  onEvent?: (event: BuildEvent) => void
  /** Aborting it cancels the build; `result()` then rejects with `BuildCanceled`. */
  signal?: AbortSignal
}

/** What registry transfers (`pull`, `push`, `copy`) take besides their options. */
export interface WithProgress {
  /** Called with every progress event of the transfer, per blob, as it happens. */
  onProgress?: (event: RegistryProgress) => void
}

/** A builder acquired on its own; release it when done with it. */
export class Builder {
  /** How to reach its BuildKit (endpoint, server name, mTLS certificates as PEM). */
  readonly connection: BuilderConnection
  readonly #native: NativeBuilder

  /** @internal Made by `Client.acquireBuilder`. */
  constructor(builder: NativeBuilder) {
    this.#native = builder
    this.connection = builder.connection
  }

  /** Releases the builder, reporting the build successful, or failed with `error`. */
  release(error?: string): Promise<void> {
    return native(() => this.#native.release(error))
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
    return this.#native.project
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
  createProject(options: CreateProjectOptions): Promise<Project> {
    return native(() => this.#native.createProject(options))
  }

  /** A read-only registry token for the project (or one build's image). */
  pullToken(options?: PullTokenOptions): Promise<string> {
    return native(() => this.#native.pullToken(options))
  }

  /** Registers a build, starts it, and returns its handle once it has an ID. */
  async build(options: BuildOptions): Promise<BuildHandle> {
    const { onEvent, signal, ...buildOptions } = options
    if (signal?.aborted) {
      throw new BuildCanceled('canceled', 'build canceled before it started')
    }
    const build = new BuildHandle(await native(() => this.#native.build(buildOptions)), onEvent)
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

  /** Registers a build and waits for its builder, for use with another BuildKit client. */
  async acquireBuilder(options?: AcquireOptions): Promise<Builder> {
    return new Builder(await native(() => this.#native.acquireBuilder(options)))
  }

  /** Pulls a saved build (`buildId`; one bake `target` of it) or a project tag (`tag`) into the
   * Docker Engine, or into an OCI image layout directory with `ociLayout`. */
  pull(options: PullOptions & WithProgress): Promise<PullResult> {
    const { onProgress, ...rest } = options
    return native(() => this.#native.pull(rest, onProgress))
  }

  /** Pushes a saved build (one bake `target` of it) to other registries. */
  push(options: PushOptions & WithProgress): Promise<PushResult> {
    const { onProgress, ...rest } = options
    return native(() => this.#native.push(rest, onProgress))
  }

  /** Copies any image to other registries. */
  copy(options: CopyImageOptions & WithProgress): Promise<PushResult> {
    const { onProgress, ...rest } = options
    return native(() => this.#native.copy(rest, onProgress))
  }

  /** The images in the project's registry. */
  listImages(options?: ImagesOptions): Promise<Image[]> {
    return native(() => this.#native.listImages(options))
  }

  /** Deletes tags from the project's registry. */
  deleteImage(options: ImagesOptions): Promise<void> {
    return native(() => this.#native.deleteImage(options))
  }

  /** Exchanges the CI job's OIDC token (detected, or `token`) for a short-lived project token. */
  exchangeCiToken(options?: ExchangeOptions): Promise<ExchangedToken> {
    return native(() => this.#native.exchangeCiToken(options))
  }
}

/** The CI job's OIDC token and its provider, or `null` outside CI. */
export function detectCiToken(options?: DetectOptions): Promise<DetectedToken | null> {
  return native(() => binding.detectCiToken(options))
}
