import { getAuthUserId } from "@convex-dev/auth/server";
import { query } from "./_generated/server.js";

// The signed-in user's document, or null when the caller has no session.
export const viewer = query({
  args: {},
  handler: async (ctx) => {
    const userId = await getAuthUserId(ctx);
    return userId === null ? null : await ctx.db.get(userId);
  },
});
