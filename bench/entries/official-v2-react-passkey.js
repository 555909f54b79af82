// Bench entry (bench/run.mjs): the React passkey hooks of Convex Auth v2 (`@convex-dev/auth`
// 2.0.0), as a React app with username + passkey sign-in and a passkey settings page imports
// them; they bring `@simplewebauthn/browser`. React and `convex` are external.
import { useAddPasskey, useRemovePasskey, useSignInWithUsernamePasskey } from "@convex-dev/auth/methods/username-passkey/react";

window.__x = { useSignInWithUsernamePasskey, useAddPasskey, useRemovePasskey };
