/**
 * The model's time for the benchmarks: an HTTP proxy on 127.0.0.1 that holds each request for a
 * fixed delay, then forwards it to the FakeModel (so codex waits as it would on a real model).
 */
import * as Effect from "effect/Effect"
import * as Http from "node:http"

/** An HTTP proxy that holds each request `delayMs`, then forwards it to `target`; closed with the scope. */
export const delayingProxy = (target: URL, delayMs: number) =>
  Effect.acquireRelease(
    Effect.async<Http.Server & { readonly port: number }>((resume) => {
      const server = Http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () =>
          setTimeout(() => {
            const upstream = Http.request(
              { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
              (up) => {
                res.writeHead(up.statusCode ?? 502, up.headers)
                up.pipe(res)
              }
            )
            upstream.on("error", () => res.destroy())
            upstream.end(Buffer.concat(chunks))
          }, delayMs))
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(Object.assign(server, { port: typeof address === "object" && address !== null ? address.port : 0 })))
      })
    }),
    (server) => Effect.sync(() => server.closeAllConnections()).pipe(Effect.zipRight(Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })))
  )
