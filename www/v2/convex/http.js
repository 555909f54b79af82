import { httpRouter } from "convex/server";
import { httpAction } from "./_generated/server.js";

const http = httpRouter();

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

export default http;
