/* A C application against the generated header: loads libluna_ffi.so with dlopen, gets the
 * function list, initializes, lists slots, logs in, generates an AES key, encrypts and
 * decrypts with AES-GCM (with length queries), and finalizes.
 *
 * Usage: smoke /path/to/libluna_ffi.so   (with LUNA_SIM_HOME set)
 * Prints "smoke: OK" and exits 0 on success. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "luna_cpv4.h"
#include "check.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODULE\n", argv[0]);
        return 2;
    }
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    CK_C_GetFunctionList get_function_list;
    *(void **)(&get_function_list) = dlsym(module, "C_GetFunctionList");
    EXPECT(get_function_list != NULL);

    CK_FUNCTION_LIST_PTR p11 = NULL;
    CHECK(get_function_list(&p11));
    EXPECT(p11->version.major == 2 && p11->version.minor == 40);

    CK_C_INITIALIZE_ARGS init_args;
    memset(&init_args, 0, sizeof init_args);
    init_args.flags = CKF_OS_LOCKING_OK;
    CHECK(p11->C_Initialize(&init_args));
    EXPECT(p11->C_Initialize(NULL) == CKR_CRYPTOKI_ALREADY_INITIALIZED);

    CK_ULONG slot_count = 0;
    CHECK(p11->C_GetSlotList(CK_TRUE, NULL, &slot_count));
    EXPECT(slot_count == 2);
    CK_SLOT_ID slots[2];
    CHECK(p11->C_GetSlotList(CK_TRUE, slots, &slot_count));
    CK_TOKEN_INFO token;
    CHECK(p11->C_GetTokenInfo(slots[0], &token));
    printf("slot %lu: %.32s\n", (unsigned long)slots[0], (const char *)token.label);
    EXPECT(memcmp(token.label, "source ", 7) == 0);

    CK_SESSION_HANDLE session;
    CHECK(p11->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session));
    CHECK(p11->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR) "co-pin", 6));

    CK_MECHANISM keygen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG key_len = 32;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE template[] = {
        {CKA_VALUE_LEN, &key_len, sizeof key_len},
        {CKA_ENCRYPT, &yes, sizeof yes},
        {CKA_DECRYPT, &yes, sizeof yes},
        {CKA_LABEL, "c-smoke", 7},
    };
    CK_OBJECT_HANDLE key;
    CHECK(p11->C_GenerateKey(session, &keygen, template, 4, &key));

    CK_BYTE iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CK_BYTE aad[] = "header";
    CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, aad, sizeof aad - 1, 128};
    CK_MECHANISM mechanism = {CKM_AES_GCM, &gcm, sizeof gcm};
    CK_BYTE message[] = "hello from C";
    CK_ULONG message_len = sizeof message - 1;

    CHECK(p11->C_EncryptInit(session, &mechanism, key));
    CK_ULONG cipher_len = 0;
    CHECK(p11->C_Encrypt(session, message, message_len, NULL, &cipher_len));
    EXPECT(cipher_len == message_len + 16);
    CK_BYTE cipher[64];
    CK_ULONG short_len = 4;
    EXPECT(p11->C_Encrypt(session, message, message_len, cipher, &short_len) == CKR_BUFFER_TOO_SMALL);
    EXPECT(short_len == cipher_len);
    cipher_len = sizeof cipher;
    CHECK(p11->C_Encrypt(session, message, message_len, cipher, &cipher_len));

    CHECK(p11->C_DecryptInit(session, &mechanism, key));
    CK_BYTE plain[64];
    CK_ULONG plain_len = sizeof plain;
    CHECK(p11->C_Decrypt(session, cipher, cipher_len, plain, &plain_len));
    EXPECT(plain_len == message_len && memcmp(plain, message, message_len) == 0);

    CHECK(p11->C_Logout(session));
    CHECK(p11->C_CloseSession(session));
    CHECK(p11->C_Finalize(NULL));
    EXPECT(p11->C_GetSlotList(CK_TRUE, NULL, &slot_count) == CKR_CRYPTOKI_NOT_INITIALIZED);
    dlclose(module);
    printf("smoke: OK\n");
    return 0;
}
