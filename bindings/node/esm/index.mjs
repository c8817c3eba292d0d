// The ES module entry point: the CommonJS build's exports, re-exported.
import sdk from '../dist/index.js'

export const {
  AuthError,
  BuildCanceled,
  BuildFailed,
  BuildHandle,
  Builder,
  Client,
  ConfigError,
  copyImage,
  DepotError,
  NotFoundError,
  RegistryError,
  depot,
  depotBinaryPath,
  detectCiToken,
  fromNative,
} = sdk
export default sdk
