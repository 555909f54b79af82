/* Written by hand for this plain-JS app (what `npx convex dev` would generate). */
export {
  actionGeneric as action,
  httpActionGeneric as httpAction,
  internalActionGeneric as internalAction,
  internalMutationGeneric as internalMutation,
  internalQueryGeneric as internalQuery,
  mutationGeneric as mutation,
  queryGeneric as query,
} from "convex/server";

/** The deployment's environment variables. */
export const env = globalThis.process.env;
