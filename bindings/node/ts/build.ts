/** A running build: its events as an async iterable, its result, and cancellation. */

import type { BuildOutcome, NativeBuild } from '../native/native.js'
import { fromNative, native } from './errors'
import type { BuildEvent } from './events'

/** What a successful build produced. */
export interface BuildResult extends BuildOutcome {
  /** The metadata `depot build --metadata-file` writes (exporter response and `depot.build`). */
  metadata: Record<string, unknown>
}

/**
 * A registered build. Iterate it (`for await`) for its events — every iteration starts from the
 * first event, which the handle keeps — or pass `onEvent` to `build()`. `result()` resolves once
 * the build has ended and every event was delivered, and rejects with `BuildFailed`,
 * `BuildCanceled` or another `DepotError`.
 */
export class BuildHandle implements AsyncIterable<BuildEvent> {
  /** The build's ID. */
  readonly buildId: string
  /** The build's project. */
  readonly projectId: string
  /** The build's page on the server; empty when it has none. */
  readonly buildUrl: string
  readonly #native: NativeBuild
  readonly #events: BuildEvent[] = []
  readonly #waiting: Array<() => void> = []
  readonly #pumped: Promise<void>
  #ended = false
  #listenerError: unknown = undefined
  #result: Promise<BuildResult> | undefined

  /** @internal Made by `Client.build`. */
  constructor(build: NativeBuild, onEvent?: (event: BuildEvent) => void) {
    this.#native = build
    this.buildId = build.buildId
    this.projectId = build.projectId
    this.buildUrl = build.buildUrl
    this.#pumped = this.#pump(onEvent)
  }

  /** Cancels the build: it stops on the builder and `result()` rejects with `BuildCanceled`. */
  cancel(): void {
    this.#native.cancel()
  }

  /** The build's result, once it has ended. */
  result(): Promise<BuildResult> {
    this.#result ??= this.#finish()
    return this.#result
  }

  [Symbol.asyncIterator](): AsyncIterator<BuildEvent> {
    let next = 0
    return {
      next: async (): Promise<IteratorResult<BuildEvent>> => {
        while (next >= this.#events.length && !this.#ended) {
          await new Promise<void>((resolve) => this.#waiting.push(resolve))
        }
        if (next < this.#events.length) {
          return { value: this.#events[next++] as BuildEvent, done: false }
        }
        return { value: undefined, done: true }
      },
    }
  }

  async #pump(onEvent?: (event: BuildEvent) => void): Promise<void> {
    try {
      for (;;) {
        const event = (await native(() => this.#native.nextEvent())) as BuildEvent | null
        if (event === null) {
          break
        }
        this.#events.push(event)
        if (onEvent !== undefined && this.#listenerError === undefined) {
          try {
            onEvent(event)
          } catch (error) {
            this.#listenerError = error
          }
        }
        this.#wake()
      }
    } finally {
      this.#ended = true
      this.#wake()
    }
  }

  #wake(): void {
    for (const resolve of this.#waiting.splice(0)) {
      resolve()
    }
  }

  async #finish(): Promise<BuildResult> {
    let outcome: BuildOutcome
    try {
      outcome = await this.#native.result()
    } catch (error) {
      await this.#pumped.catch(() => undefined)
      throw fromNative(error)
    }
    await this.#pumped
    if (this.#listenerError !== undefined) {
      throw this.#listenerError
    }
    return outcome as BuildResult
  }
}
