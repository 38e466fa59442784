// std::expected for the fuzz build only, forced in with -include.
//
// The fuzz targets are built with Debian 12's clang 14 (the compiler that
// has libFuzzer) against GCC 12's libstdc++, whose <expected> needs C++20's
// conditionally trivial special members (P0848), which clang 14 lacks: there
// <expected> is silently empty. This is the subset of std::expected the code
// under fuzzing uses, with the standard's names and semantics. With a
// compiler that has the real one, this header does nothing.
#pragma once

#include <version>

#if !defined(__cpp_lib_expected)
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace std {

template <class E>
class unexpected {
public:
    template <class Err = E>
        requires(!is_same_v<remove_cvref_t<Err>, unexpected> && is_constructible_v<E, Err>)
    constexpr explicit unexpected(Err&& e) : e_(std::forward<Err>(e)) {}
    constexpr const E& error() const& noexcept { return e_; }
    constexpr E& error() & noexcept { return e_; }
    constexpr E&& error() && noexcept { return std::move(e_); }
    constexpr const E&& error() const&& noexcept { return std::move(e_); }
    template <class G>
    friend constexpr bool operator==(const unexpected& a, const unexpected<G>& b) {
        return a.error() == b.error();
    }

private:
    E e_;
};
template <class E>
unexpected(E) -> unexpected<E>;

struct unexpect_t {
    explicit unexpect_t() = default;
};
inline constexpr unexpect_t unexpect{};

template <class E>
class bad_expected_access : public exception {
public:
    explicit bad_expected_access(E e) : e_(std::move(e)) {}
    const char* what() const noexcept override { return "bad access to std::expected without expected value"; }
    const E& error() const& noexcept { return e_; }

private:
    E e_;
};

template <class T, class E>
class expected {
public:
    using value_type = T;
    using error_type = E;
    using unexpected_type = unexpected<E>;
    template <class U>
    using rebind = expected<U, E>;

    constexpr expected() : has_(true) { ::new (std::addressof(v_)) T(); }
    constexpr expected(const expected& o) : has_(o.has_) {
        if (has_) ::new (std::addressof(v_)) T(o.v_);
        else ::new (std::addressof(e_)) E(o.e_);
    }
    constexpr expected(expected&& o) noexcept(is_nothrow_move_constructible_v<T> && is_nothrow_move_constructible_v<E>)
        : has_(o.has_) {
        if (has_) ::new (std::addressof(v_)) T(std::move(o.v_));
        else ::new (std::addressof(e_)) E(std::move(o.e_));
    }
    template <class U = T>
        requires(!is_same_v<remove_cvref_t<U>, expected> && !is_same_v<remove_cvref_t<U>, in_place_t> &&
                 !is_same_v<remove_cvref_t<U>, unexpect_t> && is_constructible_v<T, U>)
    constexpr explicit(!is_convertible_v<U, T>) expected(U&& v) : has_(true) {
        ::new (std::addressof(v_)) T(std::forward<U>(v));
    }
    template <class U, class G>
        requires(is_constructible_v<T, const U&> && is_constructible_v<E, const G&> && !is_same_v<T, U>)
    constexpr expected(const expected<U, G>& o) : has_(o.has_value()) {
        if (has_) ::new (std::addressof(v_)) T(*o);
        else ::new (std::addressof(e_)) E(o.error());
    }
    template <class U, class G>
        requires(is_constructible_v<T, U> && is_constructible_v<E, G> && !is_same_v<T, U>)
    constexpr expected(expected<U, G>&& o) : has_(o.has_value()) {
        if (has_) ::new (std::addressof(v_)) T(std::move(*o));
        else ::new (std::addressof(e_)) E(std::move(o.error()));
    }
    template <class G>
    constexpr expected(const unexpected<G>& u) : has_(false) {
        ::new (std::addressof(e_)) E(u.error());
    }
    template <class G>
    constexpr expected(unexpected<G>&& u) : has_(false) {
        ::new (std::addressof(e_)) E(std::move(u.error()));
    }
    template <class... Args>
    constexpr explicit expected(in_place_t, Args&&... args) : has_(true) {
        ::new (std::addressof(v_)) T(std::forward<Args>(args)...);
    }
    template <class... Args>
    constexpr explicit expected(unexpect_t, Args&&... args) : has_(false) {
        ::new (std::addressof(e_)) E(std::forward<Args>(args)...);
    }
    constexpr ~expected() { destroy(); }

    constexpr expected& operator=(const expected& o) {
        if (this != &o) {
            destroy();
            has_ = o.has_;
            if (has_) ::new (std::addressof(v_)) T(o.v_);
            else ::new (std::addressof(e_)) E(o.e_);
        }
        return *this;
    }
    constexpr expected& operator=(expected&& o) noexcept(is_nothrow_move_constructible_v<T> &&
                                                         is_nothrow_move_constructible_v<E>) {
        if (this != &o) {
            destroy();
            has_ = o.has_;
            if (has_) ::new (std::addressof(v_)) T(std::move(o.v_));
            else ::new (std::addressof(e_)) E(std::move(o.e_));
        }
        return *this;
    }
    template <class U = T>
        requires(!is_same_v<remove_cvref_t<U>, expected> && is_constructible_v<T, U> && is_assignable_v<T&, U>)
    constexpr expected& operator=(U&& v) {
        destroy();
        has_ = true;
        ::new (std::addressof(v_)) T(std::forward<U>(v));
        return *this;
    }
    template <class G>
    constexpr expected& operator=(const unexpected<G>& u) {
        destroy();
        has_ = false;
        ::new (std::addressof(e_)) E(u.error());
        return *this;
    }
    template <class G>
    constexpr expected& operator=(unexpected<G>&& u) {
        destroy();
        has_ = false;
        ::new (std::addressof(e_)) E(std::move(u.error()));
        return *this;
    }
    template <class... Args>
    constexpr T& emplace(Args&&... args) {
        destroy();
        has_ = true;
        ::new (std::addressof(v_)) T(std::forward<Args>(args)...);
        return v_;
    }

    constexpr const T* operator->() const noexcept { return std::addressof(v_); }
    constexpr T* operator->() noexcept { return std::addressof(v_); }
    constexpr const T& operator*() const& noexcept { return v_; }
    constexpr T& operator*() & noexcept { return v_; }
    constexpr T&& operator*() && noexcept { return std::move(v_); }
    constexpr const T&& operator*() const&& noexcept { return std::move(v_); }
    constexpr explicit operator bool() const noexcept { return has_; }
    constexpr bool has_value() const noexcept { return has_; }
    constexpr T& value() & {
        check();
        return v_;
    }
    constexpr const T& value() const& {
        check();
        return v_;
    }
    constexpr T&& value() && {
        check();
        return std::move(v_);
    }
    constexpr const E& error() const& noexcept { return e_; }
    constexpr E& error() & noexcept { return e_; }
    constexpr E&& error() && noexcept { return std::move(e_); }
    template <class U>
    constexpr T value_or(U&& d) const& {
        return has_ ? v_ : static_cast<T>(std::forward<U>(d));
    }
    template <class U>
    constexpr T value_or(U&& d) && {
        return has_ ? std::move(v_) : static_cast<T>(std::forward<U>(d));
    }
    template <class G = E>
    constexpr E error_or(G&& d) const& {
        return has_ ? static_cast<E>(std::forward<G>(d)) : e_;
    }

    template <class F>
    constexpr auto and_then(F&& f) & {
        using R = remove_cvref_t<invoke_result_t<F, T&>>;
        return has_ ? std::invoke(std::forward<F>(f), v_) : R(unexpect, e_);
    }
    template <class F>
    constexpr auto and_then(F&& f) const& {
        using R = remove_cvref_t<invoke_result_t<F, const T&>>;
        return has_ ? std::invoke(std::forward<F>(f), v_) : R(unexpect, e_);
    }
    template <class F>
    constexpr auto and_then(F&& f) && {
        using R = remove_cvref_t<invoke_result_t<F, T&&>>;
        return has_ ? std::invoke(std::forward<F>(f), std::move(v_)) : R(unexpect, std::move(e_));
    }
    template <class F>
    constexpr auto transform(F&& f) const& {
        using U = remove_cv_t<invoke_result_t<F, const T&>>;
        if (!has_) return expected<U, E>(unexpect, e_);
        if constexpr (is_void_v<U>) {
            std::invoke(std::forward<F>(f), v_);
            return expected<U, E>();
        } else {
            return expected<U, E>(in_place, std::invoke(std::forward<F>(f), v_));
        }
    }
    template <class F>
    constexpr auto or_else(F&& f) const& {
        return has_ ? expected(*this) : std::invoke(std::forward<F>(f), e_);
    }
    template <class F>
    constexpr auto transform_error(F&& f) const& {
        using G = remove_cv_t<invoke_result_t<F, const E&>>;
        return has_ ? expected<T, G>(in_place, v_) : expected<T, G>(unexpect, std::invoke(std::forward<F>(f), e_));
    }

    template <class T2, class E2>
    friend constexpr bool operator==(const expected& a, const expected<T2, E2>& b) {
        if (a.has_value() != b.has_value()) return false;
        return a.has_value() ? *a == *b : a.error() == b.error();
    }
    template <class T2>
        requires(!requires { typename T2::unexpected_type; })
    friend constexpr bool operator==(const expected& a, const T2& v) {
        return a.has_value() && *a == v;
    }
    template <class E2>
    friend constexpr bool operator==(const expected& a, const unexpected<E2>& u) {
        return !a.has_value() && a.error() == u.error();
    }

private:
    constexpr void destroy() {
        if (has_) v_.~T();
        else e_.~E();
    }
    constexpr void check() const {
        if (!has_) throw bad_expected_access<E>(e_);
    }
    union {
        T v_;
        E e_;
    };
    bool has_;
};

template <class E>
class expected<void, E> {
public:
    using value_type = void;
    using error_type = E;
    using unexpected_type = unexpected<E>;

    constexpr expected() noexcept : has_(true) {}
    constexpr expected(const expected& o) : has_(o.has_) {
        if (!has_) ::new (std::addressof(e_)) E(o.e_);
    }
    constexpr expected(expected&& o) noexcept(is_nothrow_move_constructible_v<E>) : has_(o.has_) {
        if (!has_) ::new (std::addressof(e_)) E(std::move(o.e_));
    }
    template <class G>
    constexpr expected(const unexpected<G>& u) : has_(false) {
        ::new (std::addressof(e_)) E(u.error());
    }
    template <class G>
    constexpr expected(unexpected<G>&& u) : has_(false) {
        ::new (std::addressof(e_)) E(std::move(u.error()));
    }
    constexpr explicit expected(in_place_t) noexcept : has_(true) {}
    template <class... Args>
    constexpr explicit expected(unexpect_t, Args&&... args) : has_(false) {
        ::new (std::addressof(e_)) E(std::forward<Args>(args)...);
    }
    constexpr ~expected() {
        if (!has_) e_.~E();
    }
    constexpr expected& operator=(const expected& o) {
        if (this != &o) {
            if (!has_) e_.~E();
            has_ = o.has_;
            if (!has_) ::new (std::addressof(e_)) E(o.e_);
        }
        return *this;
    }
    constexpr expected& operator=(expected&& o) noexcept(is_nothrow_move_constructible_v<E>) {
        if (this != &o) {
            if (!has_) e_.~E();
            has_ = o.has_;
            if (!has_) ::new (std::addressof(e_)) E(std::move(o.e_));
        }
        return *this;
    }
    template <class G>
    constexpr expected& operator=(unexpected<G>&& u) {
        if (!has_) e_.~E();
        has_ = false;
        ::new (std::addressof(e_)) E(std::move(u.error()));
        return *this;
    }
    template <class G>
    constexpr expected& operator=(const unexpected<G>& u) {
        if (!has_) e_.~E();
        has_ = false;
        ::new (std::addressof(e_)) E(u.error());
        return *this;
    }
    constexpr void emplace() noexcept {
        if (!has_) e_.~E();
        has_ = true;
    }
    constexpr explicit operator bool() const noexcept { return has_; }
    constexpr bool has_value() const noexcept { return has_; }
    constexpr void operator*() const noexcept {}
    constexpr void value() const {
        if (!has_) throw bad_expected_access<E>(e_);
    }
    constexpr const E& error() const& noexcept { return e_; }
    constexpr E& error() & noexcept { return e_; }
    constexpr E&& error() && noexcept { return std::move(e_); }
    template <class G = E>
    constexpr E error_or(G&& d) const& {
        return has_ ? static_cast<E>(std::forward<G>(d)) : e_;
    }
    template <class F>
    constexpr auto and_then(F&& f) const& {
        using R = remove_cvref_t<invoke_result_t<F>>;
        return has_ ? std::invoke(std::forward<F>(f)) : R(unexpect, e_);
    }
    template <class F>
    constexpr auto transform(F&& f) const& {
        using U = remove_cv_t<invoke_result_t<F>>;
        if (!has_) return expected<U, E>(unexpect, e_);
        if constexpr (is_void_v<U>) {
            std::invoke(std::forward<F>(f));
            return expected<U, E>();
        } else {
            return expected<U, E>(in_place, std::invoke(std::forward<F>(f)));
        }
    }
    template <class F>
    constexpr auto or_else(F&& f) const& {
        return has_ ? expected(*this) : std::invoke(std::forward<F>(f), e_);
    }

private:
    union {
        E e_;
    };
    bool has_;
};

}  // namespace std
#endif
