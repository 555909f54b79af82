import { getAuthUserId } from "@convex-dev/auth/server";
import { v } from "convex/values";
import { components } from "./_generated/api.js";
import { internalMutation, query } from "./_generated/server.js";

// Creates the app's user for a new identity; every sign-in method of auth.js calls it once
// per account. The profile is what the method learned: `{}` for the password, anonymous and
// passkey methods, GitHub's normalised profile for GitHub.
export const createUser = internalMutation({
  args: { method: v.object({ name: v.string(), profile: v.any() }) },
  returns: v.id("users"),
  handler: async (ctx, { method }) => {
    const profile = method.profile ?? {};
    const user = { method: method.name };
    if (typeof profile.name === "string") user.name = profile.name;
    if (typeof profile.email === "string") user.email = profile.email;
    if (typeof profile.avatarUrl === "string") user.image = profile.avatarUrl;
    if (method.name === "anonymous") user.isAnonymous = true;
    return await ctx.db.insert("users", user);
  },
});

// The signed-in user's document, or null when the caller has no session. The verified email
// and the username live in their components; they are added when the user has them.
export const viewer = query({
  args: {},
  handler: async (ctx) => {
    const userId = await getAuthUserId(ctx);
    if (userId === null) return null;
    const user = await ctx.db.get(userId);
    if (user === null) return null;
    const email = await ctx.runQuery(components.authEmail.verifiedEmails.getPrimaryEmail, { userId });
    const username = await ctx.runQuery(components.authUsername.public.getUsername, { userId });
    return {
      ...user,
      ...(email !== null ? { email } : {}),
      ...(username !== null ? { username } : {}),
    };
  },
});
