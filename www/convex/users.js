import { getAuthUserId } from "@convex-dev/auth/server";
import { v } from "convex/values";
import { internalMutation, mutation, query } from "./_generated/server.js";

// The signed-in user's document, or null when the caller has no Convex Auth session. A JWT of
// another issuer (an identity platform) has a subject that is no users id: null for it too.
export const viewer = query({
  args: {},
  handler: async (ctx) => {
    const userId = await getAuthUserId(ctx);
    const id = userId === null ? null : ctx.db.normalizeId("users", userId);
    return id === null ? null : await ctx.db.get(id);
  },
});

// ---- Users of an identity platform (Clerk, or any OIDC issuer in auth.config.js) ----

// The caller's users id: Convex Auth's user, or the user stored (`store`) or fed by the webhook
// for an identity platform's identity; null when signed out or not stored yet.
export async function appUserId(ctx) {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) return null;
  const authUserId = await getAuthUserId(ctx);
  const id = authUserId === null ? null : ctx.db.normalizeId("users", authUserId);
  if (id !== null) return id;
  const stored = await ctx.db
    .query("users")
    .withIndex("by_token", (q) => q.eq("tokenIdentifier", identity.tokenIdentifier))
    .unique();
  return (stored ?? (await userByExternalId(ctx, identity.subject)))?._id ?? null;
}

// Stores the caller's identity (from the platform's JWT) once per tokenIdentifier, as the
// Convex guide "Storing Users in the Convex Database" does; the client calls it after sign-in.
export const store = mutation({
  args: {},
  handler: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    if (!identity) {
      throw new Error("Called storeUser without authentication present");
    }
    const user = await ctx.db
      .query("users")
      .withIndex("by_token", (q) => q.eq("tokenIdentifier", identity.tokenIdentifier))
      .unique();
    if (user !== null) {
      // The name may have changed at the platform since the user was stored.
      if (identity.name !== undefined && user.name !== identity.name) {
        await ctx.db.patch(user._id, { name: identity.name });
      }
      return user._id;
    }
    return await ctx.db.insert("users", {
      name: identity.name ?? "Anonymous",
      tokenIdentifier: identity.tokenIdentifier,
    });
  },
});

// The caller's user: the one `store` wrote for this tokenIdentifier, else the one the
// platform's webhook fed for this subject, else null.
export const current = query({
  args: {},
  handler: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) return null;
    const stored = await ctx.db
      .query("users")
      .withIndex("by_token", (q) => q.eq("tokenIdentifier", identity.tokenIdentifier))
      .unique();
    return stored ?? (await userByExternalId(ctx, identity.subject));
  },
});

async function userByExternalId(ctx, externalId) {
  return await ctx.db
    .query("users")
    .withIndex("byExternalId", (q) => q.eq("externalId", externalId))
    .unique();
}

// Called by the Clerk webhook (http.js) for `user.created` and `user.updated`: `data` is
// Clerk's user object.
export const upsertFromClerk = internalMutation({
  args: { data: v.any() },
  handler: async (ctx, { data }) => {
    // Without an id the lookup below would match every user that has no externalId.
    if (typeof data?.id !== "string" || data.id === "") throw new Error("Clerk user without an id");
    // Clerk sends null for a missing first or last name.
    const name = [data.first_name, data.last_name].filter((part) => typeof part === "string" && part !== "").join(" ");
    const userAttributes = { externalId: data.id, ...(name === "" ? {} : { name }) };
    const user = await userByExternalId(ctx, data.id);
    if (user === null) {
      await ctx.db.insert("users", userAttributes);
    } else {
      await ctx.db.patch(user._id, { name: undefined, ...userAttributes });
    }
  },
});

// Called by the Clerk webhook for `user.deleted`.
export const deleteFromClerk = internalMutation({
  args: { clerkUserId: v.string() },
  handler: async (ctx, { clerkUserId }) => {
    const user = await userByExternalId(ctx, clerkUserId);
    if (user !== null) {
      await ctx.db.delete(user._id);
    } else {
      console.warn(`Can't delete user, there is none for Clerk user ID: ${clerkUserId}`);
    }
  },
});
