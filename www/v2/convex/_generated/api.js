/* Written by hand for this plain-JS app (what `npx convex dev` would generate). */
import { anyApi, componentsGeneric } from "convex/server";

export const api = anyApi;
export const internal = anyApi;
export const components = componentsGeneric();
