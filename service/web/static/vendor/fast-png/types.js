export const ResolutionUnitSpecifier = {
    /**
     * Unit is unknown.
     */
    UNKNOWN: 0,
    /**
     * Unit is the metre.
     */
    METRE: 1,
};
