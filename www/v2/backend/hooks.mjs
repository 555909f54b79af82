// Imported first by main.mjs: registers ./loader.mjs for every module loaded after it.
import { register } from "node:module";

register("./loader.mjs", import.meta.url);
