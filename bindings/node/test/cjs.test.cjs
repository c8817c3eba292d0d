// The CommonJS entry point exports the same API as the ES module one.
const assert = require('node:assert/strict')
const { test } = require('node:test')

test('require() gives the same classes as import', async () => {
  const sdk = require('@depot-rs/sdk')
  const esm = await import('@depot-rs/sdk')
  for (const name of ['Client', 'BuildHandle', 'DepotError', 'BuildFailed', 'BuildCanceled', 'AuthError', 'copyImage', 'depot']) {
    assert.equal(typeof sdk[name], 'function', name)
    assert.equal(sdk[name], esm[name], name)
  }
  assert.ok(new sdk.BuildFailed('x', { step: 's', logs: [] }) instanceof sdk.DepotError)
})
