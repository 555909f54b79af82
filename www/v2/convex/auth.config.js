// The backend trusts the access tokens that this deployment's Convex Auth core mints
// (ES256, issuer <CONVEX_CLOUD_URL>/components/auth, audience "convex-auth").
import { convexAuthProvider } from "@convex-dev/auth/server";

export default {
  providers: [convexAuthProvider()],
};
