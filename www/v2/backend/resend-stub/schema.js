import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

// What the stub of @convex-dev/resend recorded instead of sending: the outbox.
export default defineSchema({
  emails: defineTable({
    from: v.string(),
    to: v.array(v.string()),
    subject: v.optional(v.string()),
    html: v.optional(v.string()),
    text: v.optional(v.string()),
    sentAt: v.number(),
  }),
});
