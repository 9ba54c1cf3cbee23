export declare const GENERATION_KEYS: string[];
export declare function generationWrites(gen: number): Array<{ key: string; value: string | null }>;
export declare function generationEntries(gen: number): Array<{ key: string; value: string }>;
