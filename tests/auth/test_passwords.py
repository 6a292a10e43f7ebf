from argon2 import PasswordHasher, extract_parameters

from services.auth import passwords


async def test_hash_is_argon2id_and_salted() -> None:
    first = await passwords.hash_password("pw")
    second = await passwords.hash_password("pw")

    assert first.startswith("$argon2id$")
    assert first != second


async def test_verify_accepts_right_password_only() -> None:
    stored = await passwords.hash_password("right")

    right = await passwords.verify_password(stored, "right")
    wrong = await passwords.verify_password(stored, "wrong")

    assert right.valid
    assert right.new_hash is None
    assert not wrong.valid
    assert wrong.new_hash is None


async def test_outdated_parameters_produce_new_hash() -> None:
    stored = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash("right")

    check = await passwords.verify_password(stored, "right")

    assert check.valid
    assert check.new_hash is not None
    current = await passwords.hash_password("x")
    assert extract_parameters(check.new_hash) == extract_parameters(current)


async def test_wrong_password_with_outdated_hash_is_not_rehashed() -> None:
    stored = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash("right")

    check = await passwords.verify_password(stored, "wrong")

    assert not check.valid
    assert check.new_hash is None


async def test_dummy_hash_uses_current_parameters() -> None:
    current = await passwords.hash_password("x")

    # Equal parameters mean equal cost, so unknown users take as long to
    # reject as wrong passwords.
    dummy = passwords._DUMMY_HASH
    assert extract_parameters(dummy) == extract_parameters(current)
    await passwords.verify_dummy_password("anything")
