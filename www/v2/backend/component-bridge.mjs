// Registered by the local backend in every component that has HTTP routes (never part of the
// app): an internal action that runs a pending request handed over by the runner, so that
// the request runs in the component's own execution context, as Convex runs a component's
// HTTP routes under its `httpPrefix`.
import { internalActionGeneric } from "convex/server";
import { v } from "convex/values";

export const serve = internalActionGeneric({
  args: { id: v.string() },
  returns: v.null(),
  handler: async (_ctx, { id }) => {
    const run = globalThis.__convexAuthV2Bridge?.get(id);
    if (run === undefined) throw new Error(`no pending request ${id}`);
    await run();
    return null;
  },
});
