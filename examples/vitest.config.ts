import { defineProject, mergeConfig } from "vitest/config"
import shared from "../vitest.shared.js"

// Every example runs as a child process (the way a user runs it), several at a time.
export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "examples",
      maxConcurrency: 4
    }
  })
)
