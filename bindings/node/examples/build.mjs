// Builds a directory on a depot-rs (or Depot) builder, saves the image in the project's registry
// and prints the steps and their output as they happen, then the result.
//
//   DEPOT_API_URL=http://127.0.0.1:8080 DEPOT_TOKEN=… DEPOT_PROJECT_ID=… \
//     node examples/build.mjs ./app [--build-context name=dir]…
//
// Ctrl-C cancels the build (it is reported canceled to the server).
import { BuildFailed, Client } from '@depot-rs/sdk'

const [context, ...rest] = process.argv.slice(2)
if (!context) {
  console.error('usage: node examples/build.mjs <context> [--build-context name=dir]…')
  process.exit(2)
}
const buildContexts = {}
for (let i = 0; i < rest.length; i += 2) {
  const [name, dir] = (rest[i + 1] ?? '').split('=')
  if (rest[i] !== '--build-context' || !name || !dir) throw new Error(`unexpected argument ${rest[i]}`)
  buildContexts[name] = dir
}

const client = await Client.connect()
const controller = new AbortController()
process.once('SIGINT', () => controller.abort())
const build = await client.build(context, { save: true, buildContexts, signal: controller.signal })
console.log(`build ${build.buildId} in project ${build.projectId}`)
for await (const event of build) {
  if (event.type === 'vertex_started') console.log(`=> ${event.name}`)
  if (event.type === 'vertex_cached') console.log(`=> CACHED ${event.name}`)
  if (event.type === 'log') process.stdout.write(event.text.replace(/^(?=.)/gm, '   '))
}
try {
  const result = await build.result()
  console.log(`saved ${result.imageDigest} as ${result.savedTags.join(', ')}`)
} catch (error) {
  if (error instanceof BuildFailed) {
    console.error(`${error.step} failed:\n${error.logs.join('\n')}`)
  } else {
    console.error(`${error.name} (${error.code}): ${error.message}`)
  }
  process.exitCode = 1
}
