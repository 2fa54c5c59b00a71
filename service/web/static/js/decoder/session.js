// How the worker loads the decoder: onnxruntime's full graph optimisation first; its optimiser has failed on
// some SAM 2 decoder graphs, so a failure there retries with it off (the same numbers, a little slower). Pure:
// the unit tests pass a stand-in for InferenceSession.create.

/**
 * @template S
 * @param {(model: Uint8Array, options: { executionProviders: string[], graphOptimizationLevel: "all" | "disabled" }) => Promise<S>} create
 * @param {Uint8Array} model
 * @param {(e: unknown) => void} [warn]
 * @returns {Promise<{ session: S, optimization: "all" | "disabled" }>}
 */
export async function createSession(create, model, warn = (e) => console.warn(e)) {
  try {
    return { session: await create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" }), optimization: "all" };
  } catch (e) {
    warn(e);
    const session = await create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "disabled" });
    return { session, optimization: "disabled" };
  }
}
