// The backend trusts JWTs issued by this deployment's own Convex Auth.
export default {
  providers: [
    {
      domain: process.env.CONVEX_SITE_URL,
      applicationID: "convex",
    },
  ],
};
