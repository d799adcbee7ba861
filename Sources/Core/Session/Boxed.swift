/// Holds a rarely-set value out of line, so the structs that carry it per message stay small
/// enough to be copied in registers rather than with memmove.
@usableFromInline
final class Boxed<T: Sendable>: Sendable {
    @usableFromInline let value: T

    @inlinable
    init(_ value: T) {
        self.value = value
    }
}
