// A local OIDC issuer standing in for a CI provider's: it serves its discovery document and JWKS
// over loopback HTTP and signs tokens (RS256) with chosen claims, as GitLab's issuer would.

import { createSign, generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'

const base64url = (data) => Buffer.from(data).toString('base64url')

/** Starts an issuer at `http://127.0.0.1:<port><path>`; `stop()` ends it. */
export async function startIssuer(path) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' }
  let url
  const server = createServer((request, response) => {
    const documents = {
      [`${path}/.well-known/openid-configuration`]: { issuer: url, jwks_uri: `${url}/jwks` },
      [`${path}/jwks`]: { keys: [jwk] },
    }
    const body = documents[request.url]
    response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' })
    response.end(body ? JSON.stringify(body) : '{}')
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${server.address().port}${path}`
  return {
    url,
    /** A signed JWT carrying `claims`. */
    mint(claims) {
      const signed = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'test-key' }))}.${base64url(JSON.stringify(claims))}`
      const signature = createSign('RSA-SHA256').update(signed).sign(privateKey)
      return `${signed}.${base64url(signature)}`
    },
    stop() {
      server.close()
    },
  }
}
