import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

// The app owns its users; the auth components keep only opaque user ids (emails, usernames,
// passwords, passkeys and OAuth accounts live in their own components).
export default defineSchema({
  users: defineTable({
    method: v.string(),
    name: v.optional(v.string()),
    email: v.optional(v.string()),
    image: v.optional(v.string()),
    isAnonymous: v.optional(v.boolean()),
  }),
  messages: defineTable({
    userId: v.id("users"),
    body: v.string(),
  }).index("userId", ["userId"]),
});
