// Sends every tracking call type to a running cdp through the official Node SDK, then
// closeAndFlush(). Prints the events the SDK put on the wire, as a JSON array.
// Usage: node send_all.mjs HOST WRITE_KEY PREFIX
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, prefix] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, flushAt: 3, maxRetries: 1 })
const errors = []
const wire = []
analytics.on('error', (err) => errors.push(String(err?.reason ?? err?.code ?? err)))
analytics.on('http_request', (request) => {
  const body = typeof request.body === 'string' ? JSON.parse(request.body) : request.body
  if (body?.batch) wire.push(...body.batch)
})

const context = { app: { name: 'e2e', version: '1.0' }, ip: '198.51.100.9', locale: 'de-DE' }
const user = `${prefix}-user`
const anon = `${prefix}-anon`
analytics.identify({ userId: user, anonymousId: anon, traits: { email: 'bob@example.com', plan: 'team' }, context, timestamp: new Date('2026-11-01T12:30:15.250Z'), integrations: { All: true }, messageId: `${prefix}-identify` })
analytics.track({ userId: user, event: 'Order Completed', properties: { order_id: 'o-2', total: 42.5, products: [{ sku: 'B', qty: 1 }] }, context, messageId: `${prefix}-track` })
analytics.page({ anonymousId: anon, category: 'Docs', name: 'Pricing', properties: { url: 'https://shop.example/pricing' }, messageId: `${prefix}-page` })
analytics.screen({ userId: user, name: 'Cart', properties: { items: 3 }, messageId: `${prefix}-screen` })
analytics.group({ userId: user, groupId: `${prefix}-org`, traits: { name: 'Initech', seats: 40 }, messageId: `${prefix}-group` })
analytics.alias({ userId: user, previousId: anon, messageId: `${prefix}-alias` })
await analytics.closeAndFlush({ timeout: 20000 })
if (errors.length > 0) {
  console.error(`the SDK reported failures: ${errors.join(', ')}`)
  process.exit(1)
}
console.log(JSON.stringify(wire))
