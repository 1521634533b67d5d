// weir AssemblyScript SDK, ABI v1 (sdk/ABI.md).
//
// A filter extends Filter, overrides the hooks it needs, and registers one
// instance with register(); its entry file re-exports the module's exports
// with `export * from "<sdk>/assembly/exports"`.

export * from "./abi";
export * from "./imports";
export { Filter, register, bufferPtr, bufferCap } from "./filter";
