// The local backend mounts this in place of @convex-dev/resend's modules: `lib.sendEmail`
// takes the real component's arguments and records the mail in the outbox table instead of
// sending it (this machine reaches no mail service).
import { mutationGeneric } from "convex/server";
import { v } from "convex/values";

export const sendEmail = mutationGeneric({
  args: {
    options: v.object({
      apiKey: v.string(),
      testMode: v.boolean(),
      initialBackoffMs: v.number(),
      retryAttempts: v.number(),
      onEmailEvent: v.optional(v.any()),
    }),
    from: v.string(),
    to: v.array(v.string()),
    cc: v.optional(v.array(v.string())),
    bcc: v.optional(v.array(v.string())),
    subject: v.optional(v.string()),
    html: v.optional(v.string()),
    text: v.optional(v.string()),
    template: v.optional(v.any()),
    replyTo: v.optional(v.array(v.string())),
    headers: v.optional(v.array(v.object({ name: v.string(), value: v.string() }))),
    idempotencyKey: v.optional(v.string()),
  },
  returns: v.string(),
  handler: async (ctx, args) =>
    await ctx.db.insert("emails", {
      from: args.from,
      to: args.to,
      subject: args.subject,
      html: args.html,
      text: args.text,
      sentAt: Date.now(),
    }),
});
