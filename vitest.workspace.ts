// One Vitest project per package (each package's vitest.config.ts merges vitest.shared.ts), plus
// the examples, each run as a child process (examples/vitest.config.ts).
export default ["packages/*", "examples"]
