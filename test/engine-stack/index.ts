// Entry point of the engine test stack: the stack outputs are what engineStack() returns.
import { engineStack } from "./program";

export = engineStack();
