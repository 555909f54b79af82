import { authTables } from "@convex-dev/auth/server";
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  ...authTables,
  // Convex Auth's users table, widened for users who sign in through an identity platform
  // (Clerk or any OIDC issuer in auth.config.js): `tokenIdentifier` for the rows that
  // `users:store` writes, `externalId` (the platform's user id, the JWT's `subject`) for the
  // rows that the platform's webhook feeds. Convex Auth's own fields and indexes are kept.
  users: defineTable({
    ...authTables.users.validator.fields,
    tokenIdentifier: v.optional(v.string()),
    externalId: v.optional(v.string()),
  })
    .index("email", ["email"])
    .index("phone", ["phone"])
    .index("by_token", ["tokenIdentifier"])
    .index("byExternalId", ["externalId"]),
  messages: defineTable({
    userId: v.id("users"),
    body: v.string(),
  }).index("userId", ["userId"]),
});
