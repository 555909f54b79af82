// convex-test finds a component's module root by its `_generated` folder.
export {};
