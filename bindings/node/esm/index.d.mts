// Types of the ES module entry point: the same as the CommonJS build's.
export * from '../dist/index.js'
import * as sdk from '../dist/index.js'
export default sdk
