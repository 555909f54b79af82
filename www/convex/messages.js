import { ConvexError, v } from "convex/values";
import { mutation, query } from "./_generated/server.js";
import { appUserId } from "./users.js";

// The caller's own messages, newest last; empty when signed out.
export const list = query({
  args: {},
  handler: async (ctx) => {
    const userId = await appUserId(ctx);
    if (userId === null) return [];
    return await ctx.db
      .query("messages")
      .withIndex("userId", (q) => q.eq("userId", userId))
      .take(100);
  },
});

export const send = mutation({
  args: { body: v.string() },
  handler: async (ctx, { body }) => {
    const userId = await appUserId(ctx);
    if (userId === null) {
      throw new ConvexError({ code: "NOT_AUTHENTICATED", message: "Sign in to send messages." });
    }
    const text = body.trim();
    if (text.length === 0 || text.length > 1000) {
      throw new ConvexError({ code: "INVALID_MESSAGE", message: "A message has 1 to 1000 characters." });
    }
    return await ctx.db.insert("messages", { userId, body: text });
  },
});
