// Test setup shared by every project: let the worker's event loop turn after each test.
//
// Vitest's worker talks to the main process over birpc, whose calls time out after 60 s by
// timers armed in the worker. A file of many synchronous tests (the fast-codec comparisons) can
// keep the loop busy for longer than that under load; the replies then sit queued behind the
// timers, which fire first and fail the run with every test green. One `setImmediate` per test
// lets queued replies in before any such timer can expire.
import { afterEach } from "vitest"

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)))
