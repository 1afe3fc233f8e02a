// Shared Vitest settings: workspace packages resolve to their TypeScript sources.
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ViteUserConfig } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))
const pkg = (name: string) => path.join(root, "packages", name, "src")

const config: ViteUserConfig = {
  resolve: {
    alias: [
      { find: /^@effect-codex\/protocol$/, replacement: path.join(pkg("protocol"), "index.ts") },
      { find: /^@effect-codex\/protocol\/(.*)$/, replacement: path.join(pkg("protocol"), "$1.ts") },
      { find: /^@effect-codex\/testing$/, replacement: path.join(pkg("testing"), "index.ts") },
      { find: /^@effect-codex\/testing\/(.*)$/, replacement: path.join(pkg("testing"), "$1.ts") },
      { find: /^@effect-codex\/app-server$/, replacement: path.join(pkg("app-server"), "index.ts") },
      { find: /^@effect-codex\/app-server\/(.*)$/, replacement: path.join(pkg("app-server"), "$1.ts") },
      { find: /^@effect-codex\/cluster$/, replacement: path.join(pkg("cluster"), "index.ts") },
      { find: /^@effect-codex\/cluster\/(.*)$/, replacement: path.join(pkg("cluster"), "$1.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fakeTimers: { toFake: undefined },
    setupFiles: [path.join(root, "vitest.setup.ts")]
  }
}

export default config
