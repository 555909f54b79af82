import { httpRouter } from "convex/server";
import { Webhook } from "svix";
import { internal } from "./_generated/api.js";
import { httpAction } from "./_generated/server.js";
import { auth } from "./auth.js";

const http = httpRouter();
auth.addHttpRoutes(http);

// Browser pages call /whoami from their own origin with an Authorization header.
function cors(request) {
  return {
    "Access-Control-Allow-Origin": request.headers.get("Origin") ?? "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Max-Age": "600",
    Vary: "Origin",
  };
}

http.route({
  path: "/whoami",
  method: "GET",
  handler: httpAction(async (ctx, request) => {
    const identity = await ctx.auth.getUserIdentity();
    const headers = { ...cors(request), "Content-Type": "application/json" };
    if (identity === null) {
      return new Response(JSON.stringify({ code: "Unauthenticated" }), { status: 401, headers });
    }
    const { subject, issuer, tokenIdentifier } = identity;
    return new Response(JSON.stringify({ subject, issuer, tokenIdentifier }), { status: 200, headers });
  }),
});

http.route({
  path: "/whoami",
  method: "OPTIONS",
  handler: httpAction(async (_ctx, request) => new Response(null, { status: 204, headers: cors(request) })),
});

// Clerk's user webhook (delivered by Svix), as the Convex guide for Clerk writes it: keeps the
// users table in step with the platform's users, keyed by `externalId` (the Clerk user id).
// CLERK_WEBHOOK_SECRET is the endpoint's signing secret ("whsec_..."), from Clerk's dashboard.
http.route({
  path: "/clerk-users-webhook",
  method: "POST",
  handler: httpAction(async (ctx, request) => {
    const event = await validateRequest(request);
    if (!event) {
      return new Response("Error occured", { status: 400 });
    }
    switch (event.type) {
      case "user.created": // intentional fallthrough
      case "user.updated":
        await ctx.runMutation(internal.users.upsertFromClerk, { data: event.data });
        break;
      case "user.deleted": {
        const clerkUserId = event.data.id;
        await ctx.runMutation(internal.users.deleteFromClerk, { clerkUserId });
        break;
      }
      default:
        console.log("Ignored Clerk webhook event", event.type);
    }
    return new Response(null, { status: 200 });
  }),
});

/** The verified event, or null when the Svix signature (or its timestamp) does not check out. */
async function validateRequest(req) {
  const payloadString = await req.text();
  const svixHeaders = {
    "svix-id": req.headers.get("svix-id") ?? "",
    "svix-timestamp": req.headers.get("svix-timestamp") ?? "",
    "svix-signature": req.headers.get("svix-signature") ?? "",
  };
  const wh = new Webhook(process.env.CLERK_WEBHOOK_SECRET);
  try {
    return wh.verify(payloadString, svixHeaders);
  } catch (error) {
    console.error("Error verifying webhook event", error);
    return null;
  }
}

export default http;
